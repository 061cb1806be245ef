import { keeperPlugin, rerunPlugin, workbenchPlugin } from './plugins';

export default [keeperPlugin, rerunPlugin, workbenchPlugin];
