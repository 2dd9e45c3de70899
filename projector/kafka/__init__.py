"""The Kafka edge: the one package that knows Faust and aiokafka.

What the rest of the projector sees of it is small:
- batches: an async iterator of `projector.loop.Batch`es, each carrying its records (aiokafka's
  records: topic, partition, offset, key, value, headers) and `ack()`, called once the batch is
  committed (projector.loop runs them through the pipeline);
- `app.FaustEdge`: what the service runs: the app, periodic checks that may stop it, the worker;
- `records.raw_of_record`: a record as the `RawMessage` that is dead-lettered;
- `deadletter.KafkaDeadLetters` (the dead-letter producer), `login.check_login` (a refused login
  in one line), `group_offsets.GroupOffsets` (the group's offsets, for projector.offsets);
- `versions.check_versions`: the tested Faust and aiokafka versions, refused otherwise.

Replacing Faust means another adapter handing the same batches to `projector.loop.project`. Every
use of a private attribute of Faust or aiokafka is in this package and marked `noqa: SLF001`.
"""
