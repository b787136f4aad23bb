// Drives VS Code (code-server) in headless Chromium for tests/editors/test_vscode.py.
// Prints one JSON object on stdout: what it saw, or `error` with the page's state.
//
//   node vscode_driver.mjs '{"scenario": "ghostText", "url": ..., "file": "fib.py", ...}'
//
// Scenarios:
//   ghostText      open `file`, wait for the status item to show `statusText` (the model),
//                  type `type` at the end of `line` (1-based), wait for ghost text,
//                  screenshot it to `screenshot`, accept it with Tab, save, and wait for
//                  the status item to show the latency.
//   missingServer  open `file` and read the notification that says the server is missing.
// Common input: url, chromium (executable), playwrightCore (its package folder), timeoutMs,
// failureScreenshot. Everything waits for a condition, never for a fixed time.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const input = JSON.parse(process.argv[2]);
const { chromium } = createRequire(import.meta.url)(input.playwrightCore);
const log = (message) => process.stderr.write(`vscode-driver: ${message}\n`);

const STATUS_ITEM = '.statusbar-item[aria-label^="Codegen:"]';
const GHOST_TEXT = '.monaco-editor .ghost-text-decoration';

// Monaco draws ghost text as decorations: the rest of the cursor's line in
// `.ghost-text-decoration`, further lines in a view zone of `.ghost-text` lines.
// Spaces come out as non-breaking ones.
function readGhostText() {
  const clean = (text) => text.replace(/\u00a0/g, ' ');
  const inline = [...document.querySelectorAll('.monaco-editor .ghost-text-decoration')]
    .map((node) => clean(node.textContent ?? ''))
    .join('');
  const block = [...document.querySelectorAll('.monaco-editor .ghost-text .view-line')]
    .map((node) => clean(node.textContent ?? ''));
  return [inline, ...block].join('\n');
}

// How many times the editor's own text holds `text`, ghost text left out (its decorations live
// inside the same lines). Runs in the page, so it is self-contained.
function editorCount(text) {
  const lines = document.querySelector('.monaco-editor .view-lines')?.cloneNode(true);
  if (!lines) return 0;
  lines.querySelectorAll('.ghost-text-decoration, .ghost-text').forEach((node) => node.remove());
  return (lines.textContent ?? '').replace(/\u00a0/g, ' ').split(text).length - 1;
}

// Tab, until the editor's text holds `expected` once more than before (the file may hold it
// already: `fibonacci(n)` is also in the function's header). On a loaded machine the suggestion
// can be replaced by a newer one between being read and the key press, and that Tab then lands
// on nothing; the test is about the editor accepting ghost text, so wait for it and press again.
async function acceptWithTab(page, expected) {
  const before = await page.evaluate(editorCount, expected);
  for (let attempt = 1; attempt <= 3; attempt++) {
    await page.locator(GHOST_TEXT).first().waitFor();
    await page.keyboard.press('Tab');
    try {
      await page.waitForFunction(([text, count]) => {
        const lines = document.querySelector('.monaco-editor .view-lines')?.cloneNode(true);
        if (!lines) return false;
        lines.querySelectorAll('.ghost-text-decoration, .ghost-text').forEach((node) => node.remove());
        return (lines.textContent ?? '').replace(/\u00a0/g, ' ').split(text).length - 1 > count;
      }, [expected, before], { timeout: 5000 });
      return;
    } catch {
      log(`Tab attempt ${attempt}: the text does not hold ${JSON.stringify(expected)} once more yet`);
    }
  }
  throw new Error(`Tab did not accept the ghost text ${JSON.stringify(expected)}`);
}

// Ctrl+S until the file on disk holds `expected` once more than before (a key press can land
// while the workbench is busy and be lost; the dirty mark going away does not prove the write).
async function saveUntilWritten(page, path, expected) {
  const count = () => readFileSync(path, 'utf8').split(expected).length - 1;
  const before = count();
  for (let attempt = 1; attempt <= 3; attempt++) {
    await page.keyboard.press('Control+s');
    for (let waited = 0; waited < 5000; waited += 100) {
      if (count() > before) return;
      await page.waitForTimeout(100);
    }
    log(`Ctrl+S attempt ${attempt}: ${path} does not hold ${JSON.stringify(expected)} once more yet`);
  }
  throw new Error(`saving did not write ${JSON.stringify(expected)} to ${path}`);
}

async function statusText(page) {
  return (await page.locator(STATUS_ITEM).first().textContent())?.trim();
}

/** Wait until the extension's status item's text contains each of `parts`. */
async function waitForStatus(page, parts) {
  await page.waitForFunction(
    ([selector, parts]) => {
      const text = document.querySelector(selector)?.textContent ?? '';
      return parts.every((part) => text.includes(part));
    },
    [STATUS_ITEM, parts],
  );
}

/** Open the workspace, then `file` from the explorer, with the cursor in its editor. */
async function openFile(page) {
  log(`opening ${input.url}`);
  await page.goto(input.url);
  const row = page.locator(`.explorer-folders-view .monaco-list-row[aria-label*="${input.file}"]`).first();
  await row.waitFor(); // the explorer lists the folder once the workbench is usable
  log(`opening ${input.file}`);
  await row.dblclick();
  const lines = page.locator('.editor-instance .monaco-editor .view-lines').first();
  await lines.waitFor();
  await lines.click();
}

const scenarios = {
  async ghostText(page, result) {
    await openFile(page);
    // VS Code asks for ghost text only as the user types: first wait until the extension
    // has started the server and its model is loaded (the status item shows the model).
    log(`waiting for the status bar to show "${input.statusText}"`);
    await waitForStatus(page, [input.statusText]);
    result.statusBeforeTyping = await statusText(page);

    log(`typing "${input.type}" at the end of line ${input.line}`);
    await page.keyboard.press('Control+g');
    await page.keyboard.type(String(input.line));
    await page.keyboard.press('Enter');
    await page.keyboard.press('End');
    await page.keyboard.type(input.type, { delay: 80 });

    log('waiting for ghost text');
    await page.locator(GHOST_TEXT).first().waitFor();
    await page.waitForFunction(readGhostText);
    result.ghostText = await page.evaluate(readGhostText);
    log(`ghost text: ${JSON.stringify(result.ghostText)}`);
    await page.screenshot({ path: input.screenshot });

    log('accepting it with Tab and saving');
    const accepted = input.type + result.ghostText.split('\n')[0];
    await acceptWithTab(page, accepted);
    await saveUntilWritten(page, input.path, accepted);

    log('waiting for the status bar to show the latency');
    await waitForStatus(page, [input.statusText, ' ms']);
    result.statusText = await statusText(page);
  },

  async missingServer(page, result) {
    await openFile(page); // a Python file activates the extension
    log('waiting for the notification');
    const toast = page.locator('.notification-toast', { hasText: 'codegen-lsp' }).first();
    await toast.waitFor();
    result.message = (await toast.locator('.notification-list-item-message').textContent())?.trim();
    result.buttons = (await toast.locator('.notification-list-item-buttons-container .monaco-button')
      .allTextContents()).map((text) => text.trim());
    result.statusLabel = await page.locator(STATUS_ITEM).first().getAttribute('aria-label');
  },
};

async function main() {
  const browser = await chromium.launch({
    executablePath: input.chromium,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run'],
  });
  const result = {};
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.setDefaultTimeout(input.timeoutMs ?? 90_000);
  try {
    await scenarios[input.scenario](page, result);
  } catch (error) {
    result.error = String(error?.stack ?? error);
    await page.screenshot({ path: input.failureScreenshot }).catch(() => {});
    result.statusBar = await page
      .evaluate(() => [...document.querySelectorAll('.statusbar-item')].map((n) => n.getAttribute('aria-label')))
      .catch(() => []);
    result.notifications = await page
      .evaluate(() => [...document.querySelectorAll('.notification-list-item-message')].map((n) => n.textContent))
      .catch(() => []);
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(result));
}

await main();
