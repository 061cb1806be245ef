/**
 * The mime extensions: JupyterLab registers `rendererFactory` for
 * `application/vnd.scidex.replay-manifest+json` and `graphRendererFactory` for
 * `application/vnd.scidex.replay-graph+json` in every notebook and output
 * area. The regular plugins are in `index.ts`.
 */
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';

import { graphRendererFactory } from './graph-renderer';
import { rendererFactory } from './renderer';

const manifest: IRenderMime.IExtension = {
  id: 'scidex-replay:manifest-renderer',
  description: 'Renders scidex-replay manifests as a table of steps with status chips, and the run\'s chain graph.',
  rendererFactory,
  rank: 0,
  dataType: 'json'
};

const graph: IRenderMime.IExtension = {
  id: 'scidex-replay:graph-renderer',
  description: 'Renders a scidex-replay chain graph left to right, coloured by its run\'s outcomes.',
  rendererFactory: graphRendererFactory,
  rank: 0,
  dataType: 'json'
};

export default [manifest, graph];
