/**
 * Flat linking for BullMQ jobs: every job spawned anywhere below a root carries the root's id in
 * its data as `rootJobId`, and as `parentJobId` too (docs/events.md, Linking rules): the payload the
 * Python producer writes (producers/linking.py), so that a child spawned on one side is read right
 * by a worker on the other.
 *
 * - `childData(parent, data)`: the data of a child added with `queue.add` from inside a processor.
 * - `linkFlow(tree)`: a FlowProducer tree whose top job has a `jobId` and whose descendants all
 *   carry it as `rootJobId`.
 * - `linkOf(job)`: what a running job's events say about its chain.
 */
import { randomUUID } from "node:crypto";
import { LinkError } from "./errors.js";

export const ROOT_KEY = "rootJobId";
export const PARENT_KEY = "parentJobId";

/** What `linkOf` needs of a BullMQ job (a `Job` has all of it). */
export interface LinkedJob {
  id?: string | undefined;
  data?: unknown;
  parent?: { id?: string | undefined } | undefined;
}

/** The linking fields of a job's events, and why they were guessed when they were. */
export interface Link {
  rootJobId: string;
  parentJobId?: string;
  /** Set when the job has a BullMQ parent but no rootJobId in its data (its parent's id was used). */
  guessed?: string;
}

function idIn(data: unknown, key: string): string | undefined {
  if (data === null || typeof data !== "object") return undefined;
  const value = (data as Record<string, unknown>)[key];
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

/** The root named by a job's data: `rootJobId`, else `parentJobId` (flat: the parent is the root). */
function rootIdIn(data: unknown): string | undefined {
  return idIn(data, ROOT_KEY) ?? idIn(data, PARENT_KEY);
}

/** The linking fields a child's data carries: both keys, equal (flat linking). */
function linkFields(root: string): { rootJobId: string; parentJobId: string } {
  return { [ROOT_KEY]: root, [PARENT_KEY]: root } as { rootJobId: string; parentJobId: string };
}

/** The data of a child of `parent` (at any depth): `{ ...data, rootJobId, parentJobId }`, both the
 * parent's root. */
export function childData<T extends object>(parent: LinkedJob, data: T
): T & { rootJobId: string; parentJobId: string } {
  const root = rootIdIn(parent.data) ?? parent.id;
  if (!root) throw new LinkError("childData: the parent job has no id (add it to a queue first)");
  return { ...data, ...linkFields(root) };
}

/**
 * The chain a job belongs to.
 *
 * - `data.rootJobId` set (and not the job's own id): a child of that root.
 * - no `data.rootJobId` and no BullMQ parent: a root.
 * - no `data.rootJobId` but a BullMQ parent (a FlowProducer tree not passed through `linkFlow`, or
 *   a child added without `childData`): the parent's id is taken as the root. Right for a child of
 *   a root; for a deeper job it links to its immediate parent instead, so `guessed` says why, for
 *   the caller to warn.
 */
export function linkOf(job: LinkedJob & { id: string }): Link {
  const root = rootIdIn(job.data);
  if (root !== undefined && root !== job.id) return { rootJobId: root, parentJobId: root };
  if (root === undefined && job.parent?.id) {
    const parent = job.parent.id;
    return {
      rootJobId: parent,
      parentJobId: parent,
      guessed: `job ${job.id} has a BullMQ parent (${parent}) but no ${ROOT_KEY} in its data: ` +
        `linked to its parent as its root; use childData() or linkFlow() so that deeper jobs link to the root`,
    };
  }
  return { rootJobId: job.id };
}

/** The shape of a BullMQ FlowProducer tree node (`FlowJob`), as far as linking goes. */
export interface FlowNode {
  name: string;
  queueName: string;
  data?: any;
  opts?: { jobId?: string; [option: string]: any };
  children?: FlowNode[];
  [field: string]: any;
}

function linkChildren<N extends FlowNode>(children: N[] | undefined, root: string): N[] | undefined {
  return children?.map((child) => {
    const linked: N = { ...child, data: { ...(child.data ?? {}), ...linkFields(root) } };
    const below = linkChildren(child.children as N[] | undefined, root);
    if (below !== undefined) linked.children = below;
    return linked;
  });
}

/**
 * A copy of a FlowProducer tree, linked flat: the top job keeps its `opts.jobId` (a random UUID when
 * it has none) and every descendant's data gets `rootJobId` and `parentJobId` = that id. A top job that itself carries
 * a `rootJobId` (a flow added from inside another job, with `childData`) passes that root on instead.
 */
export function linkFlow<N extends FlowNode>(tree: N): N {
  if (!tree || typeof tree.name !== "string" || typeof tree.queueName !== "string") {
    throw new LinkError("linkFlow: the tree's top job needs a name and a queueName");
  }
  const jobId = tree.opts?.jobId ?? randomUUID();
  const root = rootIdIn(tree.data) ?? jobId;
  const top = { ...tree, opts: { ...(tree.opts ?? {}), jobId } };
  const children = linkChildren(tree.children as N[] | undefined, root);
  if (children !== undefined) top.children = children;
  return top;
}
