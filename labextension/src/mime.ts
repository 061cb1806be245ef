/**
 * The mime extension: JupyterLab registers `rendererFactory` for
 * `application/vnd.scidex.replay-manifest+json` in every notebook and output
 * area. The regular plugins are in `index.ts`.
 */
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';

import { rendererFactory } from './renderer';

const extension: IRenderMime.IExtension = {
  id: 'scidex-replay:manifest-renderer',
  description: 'Renders scidex-replay manifests as a table of steps with status chips.',
  rendererFactory,
  rank: 0,
  dataType: 'json'
};

export default extension;
