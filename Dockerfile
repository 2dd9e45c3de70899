# The enrichlog image: the CLI, the projector and the migrations (used by docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY producers ./producers
COPY projector ./projector
COPY migrations ./migrations
COPY enrichlog ./enrichlog
RUN pip install . && useradd --system --uid 10001 enrichlog
USER enrichlog
# The projector's metrics (ENRICHLOG_METRICS_PORT), which `enrichlog project --health` asks.
EXPOSE 9464
ENTRYPOINT ["enrichlog"]
CMD ["project"]
