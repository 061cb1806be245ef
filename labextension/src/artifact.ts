/**
 * Artifact ids as the "Rerun artifact" command accepts them, and the magic
 * line it runs.
 */

/**
 * What an artifact id may look like: one word of letters, digits and `_.:-`.
 * Anything else (spaces, quotes, flags) would change the magic's arguments.
 */
export const ARTIFACT_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

/**
 * The line the command runs for an artifact id; throws for a malformed id.
 */
export function magicLine(artifactId: string): string {
  if (!ARTIFACT_ID.test(artifactId)) {
    throw new Error(`not an artifact id: ${JSON.stringify(artifactId)}`);
  }
  return `%rerun_artifact ${artifactId} --no-widget`;
}

/**
 * Loads the magics in the kernel, silently, before the command's cell runs
 * (`%load_ext` would print "already loaded" on the second run).
 */
export const LOAD_EXTENSION =
  "get_ipython().extension_manager.load_extension('scidex_replay')";
