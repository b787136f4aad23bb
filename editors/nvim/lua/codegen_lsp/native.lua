-- Ghost text through Neovim's own vim.lsp.inline_completion (0.12+), behind the same interface as
-- ghost.lua: attach, detach, accept, dismiss, visible, set_enabled, is_enabled.
local config = require("codegen_lsp.config")
local lsp = require("codegen_lsp.lsp")
local text = require("codegen_lsp.text")

local M = {}

local enabled = nil

function M.available()
  local api = vim.lsp.inline_completion
  return type(api) == "table" and type(api.enable) == "function" and type(api.get) == "function"
end

local function is_enabled()
  if enabled == nil then
    enabled = config.options.ghost_text.enabled ~= false
  end
  return enabled
end

function M.is_enabled()
  return is_enabled()
end

local function enabled_for(bufnr)
  local per_filetype = config.options.ghost_text.filetypes or {}
  return is_enabled() and per_filetype[vim.bo[bufnr].filetype] ~= false and vim.b[bufnr].codegen_ghost_text ~= false
end

function M.attach(bufnr)
  vim.lsp.inline_completion.enable(enabled_for(bufnr), { bufnr = bufnr })
end

function M.detach(bufnr)
  if vim.api.nvim_buf_is_valid(bufnr) then
    vim.lsp.inline_completion.enable(false, { bufnr = bufnr })
  end
end

-- Where an item's text starts: its range's start (a vim.Range, or a {row, col, ...} list in
-- early 0.12 builds), else the cursor.
local function item_start(item)
  local range = item.range
  if type(range) == "table" and type(range.to_extmark) == "function" then
    local row, col = range:to_extmark()
    return row, col
  elseif type(range) == "table" and type(range[1]) == "number" then
    return range[1], range[2]
  end
  local row, col = unpack(vim.api.nvim_win_get_cursor(0))
  return row - 1, col
end

--- The part of the item's text past what is already typed, or nil.
local function rest_of(item)
  local value = item.insert_text or item.value
  value = type(value) == "table" and value.value or value
  if type(value) ~= "string" then
    return nil
  end
  local row, col = unpack(vim.api.nvim_win_get_cursor(0))
  local start_row, start_col = item_start(item)
  if start_row ~= row - 1 or start_col > col then
    return nil
  end
  local typed = vim.api.nvim_get_current_line():sub(start_col + 1, col)
  return value:sub(1, #typed) == typed and value:sub(#typed + 1) or nil
end

--- Accepting is scheduled by Neovim, so this may run in an <expr> mapping.
function M.accept(kind)
  if kind ~= "word" and kind ~= "line" then
    return vim.lsp.inline_completion.get()
  end
  return vim.lsp.inline_completion.get({
    on_accept = function(item)
      local rest = rest_of(item)
      if rest and rest ~= "" then
        text.insert_at_cursor(text.piece(rest, kind))
      end
      return nil -- inserted here; Neovim inserts nothing more
    end,
  })
end

-- Neovim has no "is a candidate showing?"; its extmarks in the current buffer tell.
function M.visible()
  local namespace = vim.api.nvim_get_namespaces()["nvim.lsp.inline_completion"]
  return namespace ~= nil and #vim.api.nvim_buf_get_extmarks(0, namespace, 0, -1, { limit = 1 }) > 0
end

--- Neovim has no public "dismiss" either: switching the buffer's inline completion off and on
--- drops the candidate, and the next keystroke asks again.
function M.dismiss()
  local bufnr = vim.api.nvim_get_current_buf()
  if not M.visible() then
    return false
  end
  vim.lsp.inline_completion.enable(false, { bufnr = bufnr })
  vim.lsp.inline_completion.enable(true, { bufnr = bufnr })
  return true
end

function M.set_enabled(on)
  enabled = on
  for _, client in ipairs(vim.lsp.get_clients({ name = lsp.name })) do
    for bufnr in pairs(client.attached_buffers) do
      M.attach(bufnr)
    end
  end
end

return M
