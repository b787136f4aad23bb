/** The server's lifecycle: start, restart, settings changes, and commands sent to it. */
import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  State,
  WorkDoneProgressCancelNotification,
} from 'vscode-languageclient/node';
import { createClient } from './client';
import { INSTALL_URL } from './constants';
import { resolveLaunch } from './launch';
import { NotificationProgress } from './progress';
import * as settings from './settings';
import { ServerStatus, StatusBar } from './statusBar';

/** Server commands that have a palette entry: each gets a `codegen-lsp.has.<name>` context key,
 * true while the running server advertises `codegen.<name>`, so entries for commands an older
 * server lacks stay hidden and appear by themselves once it has them. */
export const SERVER_COMMANDS = ['explain', 'docstring', 'annotate', 'tests', 'rewrite', 'train', 'diagram',
  'generateImage'] as const;
export type ServerCommand = (typeof SERVER_COMMANDS)[number];

const STATUS_COMMAND = 'codegen.status';

export class CodegenServer implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private isStarting = false;
  private readonly progress: NotificationProgress;
  private advertised = new Set<string>();

  constructor(private readonly output: vscode.LogOutputChannel, private readonly statusBar: StatusBar) {
    this.progress = new NotificationProgress((token) => {
      void this.client?.sendNotification(WorkDoneProgressCancelNotification.type, { token });
    });
    statusBar.setEnabled(settings.completionsEnabled());
  }

  async start(): Promise<void> {
    const launch = resolveLaunch(settings.launchSettings());
    if ('problem' in launch) {
      this.failed(launch.problem);
      return;
    }
    this.output.info(`starting ${launch.command} ${launch.args.join(' ')} (from ${launch.origin})`);
    this.statusBar.showStarting();
    const client = createClient(launch, this.output, this.progress, {
      afterCompletion: () => this.statusBar.refreshSoon(),
      starting: () => this.isStarting,
    });
    this.client = client;
    this.isStarting = true;
    try {
      await client.start();
    } catch (error) {
      this.client = undefined;
      void client.dispose().catch(() => undefined);
      this.failed(`the server did not start: ${error instanceof Error ? error.message : String(error)}`);
      return;
    } finally {
      this.isStarting = false;
    }
    client.onDidChangeState((event) => {
      if (client === this.client && event.newState === State.Stopped) {
        this.setAdvertised([]);
        this.statusBar.showStopped('the server stopped; see the codegen-lsp output');
      }
    });
    this.setAdvertised(client.initializeResult?.capabilities.executeCommandProvider?.commands ?? []);
    this.statusBar.connect((uri) => this.status(uri));
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.setAdvertised([]);
    if (client !== undefined) {
      await client.dispose().catch((error) => this.output.warn(`stopping the server: ${error}`));
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Whether the running server has the command `codegen.<name>`. */
  has(name: string): boolean {
    return this.advertised.has(`codegen.${name}`);
  }

  /** workspace/executeCommand; undefined when no server runs. */
  async execute<T>(command: string, args: unknown[]): Promise<T | undefined> {
    if (this.client === undefined) {
      void vscode.window.showWarningMessage('codegen-lsp is not running.', 'Restart server').then((choice) => {
        if (choice) {
          void this.restart();
        }
      });
      return undefined;
    }
    return this.client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args }) as Promise<T>;
  }

  /** LSP ranges and positions for VS Code ones (the same UTF-16 columns, other shapes). */
  get converter() {
    return this.client?.code2ProtocolConverter;
  }

  async settingsChanged(event: vscode.ConfigurationChangeEvent): Promise<void> {
    if (settings.affectsEnabled(event)) {
      this.statusBar.setEnabled(settings.completionsEnabled());
    }
    if (settings.affectsLaunch(event)) {
      const choice = await vscode.window.showInformationMessage(
        'The codegen-lsp server settings changed: restart the server to use them?', 'Restart server');
      if (choice) {
        await this.restart();
      }
    } else if (settings.affectsServer(event) && this.client?.isRunning()) {
      await this.client.sendNotification(DidChangeConfigurationNotification.type,
        { settings: { codegen: settings.serverSettings() } });
      this.statusBar.refreshSoon(); // a new model setting starts a reload
    }
  }

  private async status(uri: vscode.Uri | undefined): Promise<ServerStatus | undefined> {
    if (!this.advertised.has(STATUS_COMMAND)) {
      return undefined;
    }
    return this.execute<ServerStatus>(STATUS_COMMAND, uri ? [uri.toString()] : []);
  }

  private setAdvertised(commands: string[]): void {
    this.advertised = new Set(commands);
    void vscode.commands.executeCommand('setContext', 'codegen-lsp.running', this.client !== undefined);
    for (const name of SERVER_COMMANDS) {
      void vscode.commands.executeCommand('setContext', `codegen-lsp.has.${name}`, this.has(name));
    }
  }

  /** The server cannot run: say why, and how to fix it. */
  private failed(problem: string): void {
    this.output.error(problem);
    this.statusBar.showStopped(problem);
    const install = 'How to install';
    const openSettings = 'Open settings';
    void vscode.window
      .showErrorMessage(`codegen-lsp: ${problem}. Install it, or point codegen.server.command at it.`,
        install, openSettings, 'Show output')
      .then((choice) => {
        if (choice === install) {
          void vscode.env.openExternal(vscode.Uri.parse(INSTALL_URL));
        } else if (choice === openSettings) {
          void settings.openSettings();
        } else if (choice) {
          this.output.show();
        }
      });
  }

  dispose(): void {
    this.progress.dispose();
    void this.stop();
  }
}
