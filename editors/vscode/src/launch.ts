/** Where the server's executable is: the settings, a workspace .venv, or PATH. */
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { LaunchSettings } from './settings';

export interface Launch {
  command: string;
  args: string[];
  /** Where the command came from, for the log and error messages. */
  origin: string;
}

const IS_WINDOWS = process.platform === 'win32';
const DEFAULT_COMMAND = 'codegen-lsp';

/** The command to start, or an explanation of why there is none. */
export function resolveLaunch(settings: LaunchSettings): Launch | { problem: string } {
  if (settings.pythonPath) {
    const python = findExecutable(settings.pythonPath);
    return python
      ? { command: python, args: ['-m', 'codegen_lsp', 'serve'], origin: 'codegen.server.pythonPath' }
      : { problem: `codegen.server.pythonPath: ${settings.pythonPath} is not an executable` };
  }
  const command = settings.command || DEFAULT_COMMAND;
  if (command === DEFAULT_COMMAND) {
    const venv = workspaceVenvServer();
    if (venv) {
      return { command: venv, args: settings.args, origin: 'the workspace .venv' };
    }
  }
  const found = findExecutable(command);
  return found
    ? { command: found, args: settings.args, origin: command === DEFAULT_COMMAND ? 'PATH' : 'codegen.server.command' }
    : { problem: `codegen-lsp was not found (codegen.server.command: "${command}")` };
}

/** A `.venv/bin/codegen-lsp` in a workspace folder. Only in trusted workspaces: the folder
 * picks the program, and an untrusted one must not be able to run its own. */
function workspaceVenvServer(): string | undefined {
  if (!vscode.workspace.isTrusted) {
    return undefined;
  }
  const relative = IS_WINDOWS ? ['.venv', 'Scripts', 'codegen-lsp.exe'] : ['.venv', 'bin', 'codegen-lsp'];
  for (const folder of vscode.workspace.workspaceFolders ?? []) {
    if (folder.uri.scheme === 'file') {
      const candidate = path.join(folder.uri.fsPath, ...relative);
      if (isExecutable(candidate)) {
        return candidate;
      }
    }
  }
  return undefined;
}

/** `name` itself when it is a path, else the first match on PATH (with PATHEXT on Windows). */
export function findExecutable(name: string): string | undefined {
  const expanded = name.startsWith('~') ? path.join(process.env.HOME ?? '', name.slice(1)) : name;
  if (expanded.includes('/') || expanded.includes('\\')) {
    return isExecutable(expanded) ? path.resolve(expanded) : undefined;
  }
  const extensions = IS_WINDOWS ? ['', ...(process.env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';')] : [''];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    for (const extension of extensions) {
      const candidate = path.join(dir, expanded + extension);
      if (dir && isExecutable(candidate)) {
        return candidate;
      }
    }
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, IS_WINDOWS ? fs.constants.F_OK : fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
