/**
 * Unit tests of the renderer and the manifest helpers, in jsdom. Only the
 * modules that load without JupyterLab's ES-module packages are tested here;
 * the plugins are covered by the browser test (tests/browser in the repo).
 */
module.exports = {
  testEnvironment: 'jsdom',
  setupFiles: ['<rootDir>/jest-setup.js'],
  testRegex: 'src/__tests__/.*\\.spec\\.ts$',
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
  }
};
