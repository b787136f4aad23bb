/** Cancellable server work (training, explain, refactors) as a notification with a Cancel button.
 *
 * vscode-languageclient shows all `$/progress` in the status bar, where it cannot be
 * cancelled; this middleware takes over the cancellable ones and leaves the rest (the
 * model loading, indexing) to the library.
 */
import * as vscode from 'vscode';
import { ProgressToken, WorkDoneProgressBegin, WorkDoneProgressEnd, WorkDoneProgressReport } from 'vscode-languageclient/node';

type Params = WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd;

interface Shown {
  progress?: vscode.Progress<{ message?: string; increment?: number }>;
  message?: string;
  percentage: number; // what the server said last
  reported: number; // what the notification shows (VS Code takes increments)
  finish: () => void;
}

export class NotificationProgress {
  private readonly shown = new Map<ProgressToken, Shown>();

  /** `cancel` tells the server (window/workDoneProgress/cancel). */
  constructor(private readonly cancel: (token: ProgressToken) => void) {}

  readonly middleware = (token: ProgressToken, params: Params, next: (token: ProgressToken, params: Params) => void): void => {
    if (params.kind === 'begin' && params.cancellable) {
      this.begin(token, params);
      return;
    }
    const shown = this.shown.get(token);
    if (shown === undefined) {
      next(token, params);
    } else if (params.kind === 'report') {
      shown.message = params.message ?? shown.message;
      shown.percentage = params.percentage ?? shown.percentage;
      this.update(shown);
    } else if (params.kind === 'end') {
      this.shown.delete(token);
      shown.finish();
      next(token, params); // lets the library forget the token
    }
  };

  private begin(token: ProgressToken, params: WorkDoneProgressBegin): void {
    let finish = () => {};
    const done = new Promise<void>((resolve) => (finish = resolve));
    const shown: Shown = { message: params.message, percentage: params.percentage ?? 0, reported: 0, finish };
    this.shown.set(token, shown);
    const options = { location: vscode.ProgressLocation.Notification, title: params.title, cancellable: true };
    void vscode.window.withProgress(options, (progress, cancellation) => {
      // Reports that came before the notification opened are in `shown`: show them now.
      shown.progress = progress;
      this.update(shown);
      cancellation.onCancellationRequested(() => this.cancel(token));
      return done;
    });
  }

  private update(shown: Shown): void {
    if (shown.progress === undefined) {
      return;
    }
    const increment = Math.max(0, Math.min(100, shown.percentage) - shown.reported);
    shown.reported += increment;
    shown.progress.report({ message: shown.message, increment });
  }

  dispose(): void {
    for (const shown of this.shown.values()) {
      shown.finish();
    }
    this.shown.clear();
  }
}
