/**
 * Pure helpers of the workbench sidebar: the lineage tree of an artifact's
 * runs, the replay options of a fork as the Fork form fills them, and the
 * search box's query.
 */
import { JSONExt } from '@lumino/coreutils';
import type { ReadonlyPartialJSONValue } from '@lumino/coreutils';

import type { IChainStep, IRun, ReplayOptions } from './api';

export interface ILineageNode {
  run: IRun;
  children: ILineageNode[];
}

/**
 * The runs (oldest first) as a forest by `parent_run_id`: a run whose parent
 * is not in the list is a root. Children keep the list's order.
 */
export function lineageTree(runs: IRun[]): ILineageNode[] {
  const nodes = new Map<string, ILineageNode>();
  for (const run of runs) {
    nodes.set(run.run_id, { run, children: [] });
  }
  const roots: ILineageNode[] = [];
  for (const run of runs) {
    const node = nodes.get(run.run_id)!;
    const parent = run.parent_run_id ? nodes.get(run.parent_run_id) : undefined;
    if (parent && parent !== node && !isAncestor(node, parent)) {
      parent.children.push(node);
    } else {
      roots.push(node);
    }
  }
  return roots;
}

function isAncestor(node: ILineageNode, of: ILineageNode): boolean {
  return node.children.some(child => child === of || isAncestor(child, of));
}

/**
 * Whether a run can be restarted: it failed or was interrupted.
 */
export function isRestartable(run: Pick<IRun, 'status'>): boolean {
  return run.status === 'failed' || run.status === 'interrupted';
}

/**
 * The replay options of a fork of `step`: `parametersText` (the form's JSON
 * object of the step's parameters) gives `set` entries `STEP.KEY` for each key
 * whose value changed, `inputs` (artifact ids, in the step's input order; an
 * empty one keeps the recorded input) gives `input` entries `STEP:N`.
 *
 * Throws an `Error` with a one-line message when the text is not a JSON
 * object, a parameter was removed, or nothing changed.
 */
export function forkOptions(step: IChainStep, parametersText: string, inputs: string[]): ReplayOptions {
  let edited: unknown;
  try {
    edited = JSON.parse(parametersText);
  } catch (error) {
    throw new Error(`parameters: not JSON (${String((error as Error).message).split('\n', 1)[0]})`);
  }
  if (typeof edited !== 'object' || edited === null || Array.isArray(edited)) {
    throw new Error('parameters: expected a JSON object of the step\'s parameters');
  }
  const before = step.parameters ?? {};
  const removed = Object.keys(before).filter(key => !(key in (edited as object)));
  if (removed.length) {
    throw new Error(`parameters: a fork changes parameters, it cannot remove ${removed.join(', ')}`);
  }
  const set: { [key: string]: unknown } = {};
  for (const [key, value] of Object.entries(edited as { [key: string]: unknown })) {
    const old = before[key];
    if (
      old === undefined ||
      !JSONExt.deepEqual(old as ReadonlyPartialJSONValue, value as ReadonlyPartialJSONValue)
    ) {
      set[`${step.step_id}.${key}`] = value;
    }
  }
  const input: { [key: string]: string } = {};
  inputs.forEach((value, i) => {
    const id = value.trim();
    if (id && id !== step.inputs[i]) {
      input[`${step.step_id}:${i}`] = id;
    }
  });
  if (!Object.keys(set).length && !Object.keys(input).length) {
    throw new Error('nothing to fork: change a parameter or an input of the step');
  }
  const options: ReplayOptions = { fork: true };
  if (Object.keys(set).length) {
    options.set = set;
  }
  if (Object.keys(input).length) {
    options.input = input;
  }
  return options;
}

/**
 * The search box's text as the API's `q` and `kind`: a `kind:KIND` word
 * filters by kind, the rest is the text.
 */
export function parseQuery(text: string): { q: string; kind: string | null } {
  let kind: string | null = null;
  const words = text.trim().split(/\s+/).filter(word => {
    const m = /^kind:(\S+)$/i.exec(word);
    if (m) {
      kind = m[1];
      return false;
    }
    return word.length > 0;
  });
  return { q: words.join(' '), kind };
}
