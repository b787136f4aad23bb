/** The palette's and the editor menu's commands (`codegen-lsp.*`). */
import * as vscode from 'vscode';
import { COMMAND_PREFIX } from './constants';
import { CodegenServer, ServerCommand } from './server';
import * as settings from './settings';

/** What the server's commands return: edits are applied through workspace/applyEdit and
 * explanations shown through window/showDocument before the answer comes. */
interface CommandResult {
  error?: string;
  applied?: boolean;
  reason?: string | null;
  uri?: string;
  shown?: boolean;
}

type Arguments = (server: CodegenServer) => Promise<unknown[] | undefined>;

/** How each palette entry builds its server command's arguments; undefined cancels. */
const SERVER_ARGUMENTS: Record<ServerCommand, Arguments> = {
  explain: (server) => selection(server),
  docstring: (server) => selection(server),
  annotate: (server) => selection(server),
  tests: (server) => selection(server),
  rewrite: async (server) => {
    const args = await selection(server);
    const instruction = args && (await ask('Rewrite the selection: what should change?', 'e.g. use a list comprehension'));
    return instruction ? [...args, instruction] : undefined;
  },
  diagram: async (server) => {
    const editor = activeEditor();
    return editor && server.converter && [editor.document.uri.toString(), server.converter.asPosition(editor.selection.active)];
  },
  generateImage: async () => {
    const prompt = await ask('Generate an image of…', 'e.g. a flow chart of the login process');
    return prompt ? [prompt] : undefined;
  },
  train: async () => {
    const folder = await workspaceFolder();
    return folder && [folder.uri.toString()];
  },
};

export function registerCommands(context: vscode.ExtensionContext, server: CodegenServer,
  output: vscode.LogOutputChannel): void {
  const register = (name: string, run: () => unknown) =>
    context.subscriptions.push(vscode.commands.registerCommand(COMMAND_PREFIX + name, run));

  for (const [name, args] of Object.entries(SERVER_ARGUMENTS)) {
    register(name, () => runServerCommand(server, name, args));
  }
  register('toggleCompletions', async () => {
    const enabled = !settings.completionsEnabled();
    await settings.setCompletionsEnabled(enabled);
    if (!enabled) {
      await vscode.commands.executeCommand('editor.action.inlineSuggest.hide');
    }
  });
  register('showOutput', () => output.show());
  register('restartServer', () => server.restart());
}

async function runServerCommand(server: CodegenServer, name: string, makeArgs: Arguments): Promise<void> {
  const args = await makeArgs(server);
  if (args === undefined) {
    return;
  }
  let result: CommandResult | undefined;
  try {
    result = await server.execute<CommandResult>(`codegen.${name}`, args);
  } catch (error) {
    result = { error: error instanceof Error ? error.message : String(error) };
  }
  if (result?.error) {
    // Worded like the server's own message for the same error, which VS Code then shows once.
    void vscode.window.showWarningMessage(`codegen-lsp: ${result.error}`);
  } else if (result?.applied === false) {
    void vscode.window.showWarningMessage(`codegen-lsp: the edit was not applied${result.reason ? `: ${result.reason}` : ''}`);
  } else if (result?.uri && result.shown === false) {
    await vscode.window.showTextDocument(vscode.Uri.parse(result.uri)); // the server could not show it
  }
}

/** [document URI, the selection as an LSP range]; an empty selection is the cursor. */
async function selection(server: CodegenServer): Promise<unknown[] | undefined> {
  const editor = activeEditor();
  return editor && server.converter && [editor.document.uri.toString(), server.converter.asRange(editor.selection)];
}

function activeEditor(): vscode.TextEditor | undefined {
  const editor = vscode.window.activeTextEditor;
  if (editor === undefined) {
    void vscode.window.showInformationMessage('Codegen: open a file first.');
  }
  return editor;
}

function ask(prompt: string, placeHolder: string): Thenable<string | undefined> {
  return vscode.window.showInputBox({ prompt, placeHolder, ignoreFocusOut: true });
}

/** The active file's folder, else the only one, else the user's pick. */
async function workspaceFolder(): Promise<vscode.WorkspaceFolder | undefined> {
  const document = vscode.window.activeTextEditor?.document;
  const folders = vscode.workspace.workspaceFolders ?? [];
  const folder = (document && vscode.workspace.getWorkspaceFolder(document.uri)) ??
    (folders.length === 1 ? folders[0] : await vscode.window.showWorkspaceFolderPick());
  if (folder === undefined && folders.length === 0) {
    void vscode.window.showInformationMessage('Codegen: open a folder to train on.');
  }
  return folder;
}
