-- Handlers this plugin gives the codegen-lsp client, over Neovim's defaults.
local float = require("codegen_lsp.float")

local M = {}

-- What window/showMessage showed lately, so a command's error that the server already told the
-- user about is not shown twice.
local recent = {}
local RECENT_MS = 5000

function M.shown_recently(message)
  local at = recent[message]
  return at ~= nil and vim.uv.now() - at < RECENT_MS
end

local function show_message(err, params, ctx, handler_config)
  if params and params.message then
    recent[params.message] = vim.uv.now()
  end
  return vim.lsp.handlers["window/showMessage"](err, params, ctx, handler_config)
end

-- Explanations are Markdown files the server writes under <workspace>/.codegen/explain/:
-- they read best in a float next to the code rather than in a new buffer.
local function show_document(err, params, ctx, handler_config)
  local uri = params and params.uri or ""
  if not params.external and uri:find("/.codegen/explain/", 1, true) then
    local ok, lines = pcall(vim.fn.readfile, vim.uri_to_fname(uri))
    if ok and pcall(float.markdown, table.concat(lines, "\n"), "codegen-lsp: explain") then
      return { success = true }
    end
  end
  return vim.lsp.handlers["window/showDocument"](err, params, ctx, handler_config)
end

function M.handlers()
  return {
    ["window/showDocument"] = show_document,
    ["window/showMessage"] = show_message,
  }
end

return M
