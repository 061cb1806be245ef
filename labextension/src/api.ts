/**
 * The client of the workbench REST API (`<base_url>scidex-replay/api/`), served
 * by the package's Jupyter Server extension. `ServerConnection.makeRequest`
 * sends the token and the XSRF cookie. A failing request rejects with an
 * `ApiError` whose message is the server's one-line `message`.
 *
 * The shapes mirror the API contract; the client holds no replay logic.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type { IGraph } from './graph';
import type { IReplayManifest } from './tokens';

export interface IRunRef {
  run_id: string;
  kind: string;
  status: string;
  started_at: string | null;
  completed_at: string | null;
}

export interface IArtifact {
  id: string;
  name: string | null;
  kind: string;
  size: number;
  content_hash: string;
  created_at: string;
  produced_by: { step_id: string; step_name: string | null; step_type: string } | null;
  last_run: IRunRef | null;
}

export interface IChainStep {
  step_id: string;
  step_name: string | null;
  step_type: string;
  method: string;
  parameters: { [key: string]: unknown };
  inputs: string[];
  outputs: string[];
  env_hash: string | null;
}

export interface IChain {
  artifact: IArtifact;
  graph: IGraph;
  steps: IChainStep[];
}

export interface IRun extends IRunRef {
  target_artifact_id: string;
  parent_run_id: string | null;
  from_step: string | null;
  summary: { [outcome: string]: number } | null;
  options: { [key: string]: unknown };
}

export interface IRunDetail extends IRun {
  manifest: IReplayManifest;
  graph: IGraph;
}

export interface IPlanStep {
  step_id: string;
  step_name: string | null;
  action: string;
  reason: string | null;
}

export interface IJob {
  job_id: string;
  artifact_id: string;
  options: { [key: string]: unknown };
  status: 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
  created_at: string;
  finished_at: string | null;
  run_id: string | null;
  progress: {
    done: number;
    total: number | null;
    current: string | null;
    steps: { step_id: string; position: number; outcome: string | null }[];
  };
  error: string | null;
  manifest: IReplayManifest | null;
}

/**
 * Replay options, keyed as the `rerun-artifact` CLI flags (`from`, `restart`,
 * `fork`, `set`, `input`, ...).
 */
export type ReplayOptions = { [key: string]: unknown };

/**
 * A request the server refused, or that did not reach it.
 */
export class ApiError extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

/**
 * Whether a job may still change (poll it again).
 */
export function isLive(job: Pick<IJob, 'status'>): boolean {
  return job.status === 'queued' || job.status === 'running';
}

export class ReplayApi {
  constructor(settings: ServerConnection.ISettings = ServerConnection.makeSettings()) {
    this._settings = settings;
  }

  searchArtifacts(
    q: string,
    offset = 0,
    limit = 50,
    kind: string | null = null
  ): Promise<{ artifacts: IArtifact[]; total: number; limit: number; offset: number }> {
    const params: { [key: string]: string } = { q, limit: String(limit), offset: String(offset) };
    if (kind) {
      params.kind = kind;
    }
    const query = URLExt.objectToQueryString(params);
    return this._request(`artifacts${query}`);
  }

  chain(artifactId: string): Promise<IChain> {
    return this._request(`artifacts/${encodeURIComponent(artifactId)}/chain`);
  }

  runs(artifactId: string): Promise<{ runs: IRun[] }> {
    return this._request(`runs${URLExt.objectToQueryString({ artifact: artifactId })}`);
  }

  run(runId: string): Promise<IRunDetail> {
    return this._request(`runs/${encodeURIComponent(runId)}`);
  }

  plan(artifactId: string, options: ReplayOptions): Promise<{ steps: IPlanStep[] }> {
    return this._request(`artifacts/${encodeURIComponent(artifactId)}/plan`, 'POST', options);
  }

  rerun(artifactId: string, options: ReplayOptions): Promise<{ job_id: string }> {
    return this._request(`artifacts/${encodeURIComponent(artifactId)}/rerun`, 'POST', options);
  }

  job(jobId: string): Promise<IJob> {
    return this._request(`jobs/${encodeURIComponent(jobId)}`);
  }

  jobs(): Promise<{ jobs: IJob[] }> {
    return this._request('jobs');
  }

  cancel(jobId: string): Promise<IJob> {
    return this._request(`jobs/${encodeURIComponent(jobId)}`, 'DELETE');
  }

  private async _request<T>(path: string, method = 'GET', body?: unknown): Promise<T> {
    const url = URLExt.join(this._settings.baseUrl, 'scidex-replay/api', path);
    const init: RequestInit = { method };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { 'Content-Type': 'application/json' };
    }
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this._settings);
    } catch (error) {
      throw new ApiError(`the server did not answer: ${oneLine(String(error))}`, 0);
    }
    const text = await response.text();
    let data: unknown = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) {
      const message =
        typeof data === 'object' && data !== null && typeof (data as { message?: unknown }).message === 'string'
          ? (data as { message: string }).message
          : `${response.status} ${response.statusText}`;
      throw new ApiError(oneLine(message), response.status);
    }
    return data as T;
  }

  private _settings: ServerConnection.ISettings;
}

/**
 * The first line of a message.
 */
export function oneLine(message: string): string {
  return message.split('\n', 1)[0].trim();
}
