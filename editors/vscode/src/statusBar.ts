/** The status-bar item: model, adapter, last latency and on/off; a click toggles completions. */
import * as path from 'path';
import * as vscode from 'vscode';

/** What the server's `codegen.status` command returns. */
export interface ServerStatus {
  state: 'loading' | 'ready' | 'error';
  model: string | null;
  device: string | null;
  fimFormat: string | null;
  adapter: string;
  lastLatencyMs: number | null;
  loadError: string | null;
  version: string;
}

/** Reads the server's status for a document; undefined when there is no server to ask. */
export type StatusSource = (uri: vscode.Uri | undefined) => Promise<ServerStatus | undefined>;

const LOADING_POLL_MS = 1000; // how often to look again while the model loads
const THROTTLE_MS = 750; // completions come every few keystrokes: one status request per burst

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('codegen-lsp.status', vscode.StatusBarAlignment.Right, 100);
  private source: StatusSource | undefined;
  private status: ServerStatus | undefined;
  private enabled = true;
  private timer: NodeJS.Timeout | undefined;

  constructor() {
    this.item.name = 'Codegen';
    this.showStarting();
    this.item.show();
  }

  /** Start reading the status from a running server (and poll while its model loads). */
  connect(source: StatusSource): void {
    this.source = source;
    this.refresh();
  }

  showStarting(): void {
    this.source = undefined;
    this.status = undefined;
    this.render('$(loading~spin) codegen', 'Starting codegen-lsp…', 'codegen-lsp.showOutput');
  }

  /** The server is not running; `problem` says why, and a click restarts it. */
  showStopped(problem: string): void {
    this.source = undefined;
    this.status = undefined;
    this.render('$(debug-disconnect) codegen stopped', `codegen-lsp is not running: ${problem}\n\nClick to restart it.`,
      'codegen-lsp.restartServer', new vscode.ThemeColor('statusBarItem.errorBackground'));
  }

  setEnabled(enabled: boolean): void {
    this.enabled = enabled;
    this.show();
  }

  /** Ask the server again soon; calls within THROTTLE_MS of each other make one request. */
  refreshSoon(): void {
    if (this.timer === undefined) {
      this.timer = setTimeout(() => this.refresh(), THROTTLE_MS);
    }
  }

  refresh(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const source = this.source;
    if (source === undefined) {
      return;
    }
    source(vscode.window.activeTextEditor?.document.uri).then(
      (status) => {
        if (source !== this.source || status === undefined) {
          return; // the server was restarted meanwhile, or has no codegen.status
        }
        this.status = status;
        this.show();
        if (status.state === 'loading' && this.timer === undefined) {
          this.timer = setTimeout(() => this.refresh(), LOADING_POLL_MS);
        }
      },
      () => undefined, // a failed status request changes nothing: the next one may work
    );
  }

  private show(): void {
    const status = this.status;
    if (status === undefined) {
      if (this.source !== undefined) {
        this.render(this.enabled ? '$(sparkle) codegen' : '$(circle-slash) codegen off', 'codegen-lsp is running.');
      }
      return;
    }
    if (status.state === 'loading') {
      this.render('$(loading~spin) codegen', 'codegen-lsp: loading the model…');
    } else if (status.state === 'error') {
      this.render('$(error) codegen', `codegen-lsp: the model failed to load.\n\n${status.loadError ?? ''}`,
        'codegen-lsp.showOutput', new vscode.ThemeColor('statusBarItem.errorBackground'));
    } else {
      this.render(this.readyText(status), this.readyTooltip(status));
    }
  }

  private readyText(status: ServerStatus): string {
    if (!this.enabled) {
      return `$(circle-slash) ${modelName(status.model)} off`;
    }
    const parts = [modelName(status.model)];
    if (status.adapter) {
      parts.push(`+ ${path.basename(status.adapter)}`);
    }
    if (status.lastLatencyMs !== null) {
      parts.push(`· ${Math.round(status.lastLatencyMs)} ms`);
    }
    return `$(sparkle) ${parts.join(' ')}`;
  }

  private readyTooltip(status: ServerStatus): vscode.MarkdownString {
    const rows = [
      ['Model', status.model ?? '?'],
      ['Adapter', status.adapter || 'none'],
      ['Device', status.device ?? '?'],
      ['FIM format', status.fimFormat ?? '?'],
      ['Last completion', status.lastLatencyMs === null ? '–' : `${Math.round(status.lastLatencyMs)} ms`],
      ['Server', `codegen-lsp ${status.version}`],
    ];
    const tooltip = new vscode.MarkdownString(
      `**Completions ${this.enabled ? 'on' : 'off'}** (click to turn them ${this.enabled ? 'off' : 'on'})\n\n` +
        '| | |\n|---|---|\n' +
        rows.map(([name, value]) => `| ${name} | \`${value}\` |`).join('\n'),
    );
    return tooltip;
  }

  private render(text: string, tooltip: string | vscode.MarkdownString, command = 'codegen-lsp.toggleCompletions',
    background?: vscode.ThemeColor): void {
    this.item.text = text;
    this.item.tooltip = tooltip;
    this.item.command = command;
    this.item.backgroundColor = background;
    // Screen readers (and the editor test) read the plain text, without the icon syntax.
    this.item.accessibilityInformation = { label: `Codegen: ${text.replace(/\$\([^)]*\)\s*/g, '')}` };
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.item.dispose();
  }
}

/** "default" for "default:3f2a…": the model id is the folder's name and a fingerprint. */
function modelName(model: string | null): string {
  return model ? model.split(':')[0] : 'codegen';
}
