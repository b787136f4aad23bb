/** The `codegen.*` settings: what the server gets, and what only the extension reads. */
import * as vscode from 'vscode';

const SECTION = 'codegen';
/** `codegen.server.*` says how to start the server; the server itself never sees it. */
const EXTENSION_ONLY = 'server';
const ENABLED = 'completion.enabled';

/** The `codegen` settings as a plain object, for initializationOptions and didChangeConfiguration. */
export function serverSettings(): Record<string, unknown> {
  // A WorkspaceConfiguration holds the values as properties next to get/has/update:
  // a JSON round trip keeps exactly the values.
  const all = JSON.parse(JSON.stringify(vscode.workspace.getConfiguration(SECTION))) as Record<string, unknown>;
  delete all[EXTENSION_ONLY];
  return all;
}

export interface LaunchSettings {
  command: string;
  args: string[];
  pythonPath: string;
}

export function launchSettings(): LaunchSettings {
  const config = vscode.workspace.getConfiguration(`${SECTION}.${EXTENSION_ONLY}`);
  return {
    command: config.get<string>('command', 'codegen-lsp').trim(),
    args: config.get<string[]>('args', ['serve']),
    pythonPath: config.get<string>('pythonPath', '').trim(),
  };
}

export function completionsEnabled(): boolean {
  return vscode.workspace.getConfiguration(SECTION).get<boolean>(ENABLED, true);
}

/** Flip `codegen.completion.enabled` where it is set: a workspace value would hide a user one. */
export async function setCompletionsEnabled(enabled: boolean): Promise<void> {
  const config = vscode.workspace.getConfiguration(SECTION);
  const where = config.inspect<boolean>(ENABLED);
  const target =
    where?.workspaceFolderValue !== undefined
      ? vscode.ConfigurationTarget.WorkspaceFolder
      : where?.workspaceValue !== undefined
        ? vscode.ConfigurationTarget.Workspace
        : vscode.ConfigurationTarget.Global;
  await config.update(ENABLED, enabled, target);
}

export function affectsServer(event: vscode.ConfigurationChangeEvent): boolean {
  return event.affectsConfiguration(SECTION);
}

export function affectsLaunch(event: vscode.ConfigurationChangeEvent): boolean {
  return event.affectsConfiguration(`${SECTION}.${EXTENSION_ONLY}`);
}

export function affectsEnabled(event: vscode.ConfigurationChangeEvent): boolean {
  return event.affectsConfiguration(`${SECTION}.${ENABLED}`);
}

export async function openSettings(): Promise<void> {
  await vscode.commands.executeCommand('workbench.action.openSettings', `@ext:codegen-lsp.codegen-lsp ${SECTION}.server`);
}
