/** Names shared by the modules; the ones in package.json must match. */

/** Where a user who has no server yet is sent (the README's install section). */
export const INSTALL_URL = 'https://github.com/codegen-lsp/codegen-lsp#readme';

/** The language client's id: it also names the trace setting, `codegen-lsp.trace.server`. */
export const CLIENT_ID = 'codegen-lsp';
export const CLIENT_NAME = 'codegen-lsp';
export const OUTPUT_CHANNEL = 'codegen-lsp';

/** Client-side command ids. The server's own ids (`codegen.explain`, ...) are registered
 * by vscode-languageclient, so ours need another prefix to avoid a clash. */
export const COMMAND_PREFIX = 'codegen-lsp.';

/** Languages the server completes (it has tree-sitter grammars for them), as VS Code language ids. */
export const LANGUAGES = [
  'python',
  'javascript',
  'typescript',
  'javascriptreact',
  'typescriptreact',
  'go',
  'rust',
  'java',
  'c',
  'cpp',
  'lua',
  'shellscript',
];
