/** codegen-lsp for VS Code: ghost text and AI commands from the codegen-lsp language server. */
import * as vscode from 'vscode';
import { registerCommands } from './commands';
import { OUTPUT_CHANNEL } from './constants';
import { CodegenServer } from './server';
import { StatusBar } from './statusBar';

let server: CodegenServer | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  // One channel for the whole session: the client's log and trace survive restarts.
  const output = vscode.window.createOutputChannel(OUTPUT_CHANNEL, { log: true });
  const statusBar = new StatusBar();
  server = new CodegenServer(output, statusBar);
  context.subscriptions.push(
    output,
    statusBar,
    server,
    vscode.workspace.onDidChangeConfiguration((event) => server?.settingsChanged(event)),
    vscode.window.onDidChangeActiveTextEditor(() => statusBar.refresh()),
  );
  registerCommands(context, server, output);
  await server.start();
}

export async function deactivate(): Promise<void> {
  await server?.stop();
  server = undefined;
}
