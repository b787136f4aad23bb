/** The language client: how the server is started, what it is told, and the middleware. */
import * as vscode from 'vscode';
import {
  CancellationToken,
  CloseAction,
  ErrorHandler,
  LanguageClient,
  LanguageClientOptions,
  Middleware,
  ResponseError,
  RevealOutputChannelOn,
  ServerOptions,
  ShowDocumentParams,
  ShowDocumentRequest,
  ShowDocumentResult,
} from 'vscode-languageclient/node';
import { CLIENT_ID, CLIENT_NAME, LANGUAGES } from './constants';
import { Launch } from './launch';
import { NotificationProgress } from './progress';
import { completionsEnabled, serverSettings } from './settings';

export interface ClientHooks {
  /** A ghost-text request was answered (the status bar shows the latency). */
  afterCompletion(): void;
  /** True until the server has answered `initialize`: crashes before that are start failures. */
  starting(): boolean;
}

export function createClient(launch: Launch, output: vscode.LogOutputChannel, progress: NotificationProgress,
  hooks: ClientHooks): LanguageClient {
  const serverOptions: ServerOptions = {
    command: launch.command,
    args: launch.args,
    // No `transport`: TransportKind.stdio would add `--stdio`, which `codegen-lsp serve` does not
    // take; a plain command speaks LSP on stdin/stdout anyway. The first workspace folder as the
    // working directory, so relative paths in the server's settings mean what users expect.
    options: { cwd: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath },
  };
  const documentSelector = LANGUAGES.flatMap((language) => [
    { scheme: 'file', language },
    { scheme: 'untitled', language },
  ]);
  const clientOptions: LanguageClientOptions = {
    documentSelector,
    outputChannel: output,
    traceOutputChannel: output,
    // The server takes `{codegen: {...}}`; changes are pushed by CodegenServer.settingsChanged.
    initializationOptions: () => ({ codegen: serverSettings() }),
    middleware: middleware(progress, hooks),
    // Start failures are reported once, by CodegenServer.start (with install and settings
    // buttons), not also by the library's own notifications.
    initializationFailedHandler: () => false,
    revealOutputChannelOn: RevealOutputChannelOn.Never,
  };
  const client = new LanguageClient(CLIENT_ID, CLIENT_NAME, serverOptions, clientOptions);
  client.clientOptions.errorHandler = errorHandler(client, hooks);
  return client;
}

function middleware(progress: NotificationProgress, hooks: ClientHooks): Middleware {
  return {
    async provideInlineCompletionItems(document, position, context, token, next) {
      if (!completionsEnabled()) {
        return undefined; // no round trip: turning completions off takes effect at once
      }
      const result = await next(document, position, context, token);
      hooks.afterCompletion();
      return result;
    },
    handleWorkDoneProgress: progress.middleware,
    window: { showDocument },
  };
}

/** Explanations are Markdown files: show them rendered, beside the code they explain. */
async function showDocument(params: ShowDocumentParams, token: CancellationToken,
  next: ShowDocumentRequest.HandlerSignature): Promise<ShowDocumentResult | ResponseError<void>> {
  if (params.external || !params.uri.endsWith('.md')) {
    return next(params, token);
  }
  try {
    await vscode.commands.executeCommand('markdown.showPreviewToSide', vscode.Uri.parse(params.uri));
    return { success: true };
  } catch {
    return next(params, token); // no Markdown preview (a trimmed-down editor): the plain file
  }
}

/** The library's handler, except that a server dying before `initialize` is not restarted:
 * CodegenServer.start reports that once, with buttons that help. */
function errorHandler(client: LanguageClient, hooks: ClientHooks): ErrorHandler {
  const fallback = client.createDefaultErrorHandler();
  return {
    error: (error, message, count) => fallback.error(error, message, count),
    closed: () => (hooks.starting() ? { action: CloseAction.DoNotRestart, handled: true } : fallback.closed()),
  };
}
