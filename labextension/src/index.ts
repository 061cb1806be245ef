import { keeperPlugin, rerunPlugin } from './plugins';

export default [keeperPlugin, rerunPlugin];
