-- The plugin's own ghost-text renderer, for Neovim without vim.lsp.inline_completion (< 0.12).
--
-- One suggestion lives at a time, anchored where its text starts (the start of the item's range).
-- It stays on screen while the user types it out, and goes as soon as the buffer stops agreeing
-- with it; every other keystroke asks the server again, after a short debounce.
local config = require("codegen_lsp.config")
local lsp = require("codegen_lsp.lsp")
local position = require("codegen_lsp.position")
local text = require("codegen_lsp.text")

local M = {}

M.namespace = vim.api.nvim_create_namespace("codegen_lsp_ghost")
M.hl_group = "CodegenGhostText"

local AUTOMATIC = 2 -- InlineCompletionTriggerKind.Automatic
local REQUEST_CANCELLED = -32800

local state = {
  enabled = nil, -- the :CodegenToggle switch; nil until setup reads the option
  timer = nil,
  pending = nil, -- { client, id } of the request in flight
  suggestion = nil, -- see show()
  seen = nil, -- the (changedtick, cursor) last handled, so one keystroke is handled once
}

local function enabled()
  if state.enabled == nil then
    state.enabled = config.options.ghost_text.enabled ~= false
  end
  return state.enabled
end

--- Whether ghost text shows in `bufnr`: the global switch, the per-filetype option and b:codegen_ghost_text.
function M.enabled_for(bufnr)
  local per_filetype = config.options.ghost_text.filetypes or {}
  return enabled() and per_filetype[vim.bo[bufnr].filetype] ~= false and vim.b[bufnr].codegen_ghost_text ~= false
end

local function cursor()
  local row, col = unpack(vim.api.nvim_win_get_cursor(0))
  return row - 1, col
end

local function line_at(bufnr, row)
  return vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
end

local function cancel_pending()
  if state.pending then
    pcall(lsp.cancel, state.pending.client, state.pending.id)
    state.pending = nil
  end
end

function M.clear()
  local suggestion = state.suggestion
  state.suggestion = nil
  if suggestion and vim.api.nvim_buf_is_valid(suggestion.bufnr) then
    vim.api.nvim_buf_clear_namespace(suggestion.bufnr, M.namespace, 0, -1)
  end
end

--- What is left to insert of the suggestion at the cursor, or nil once the buffer no longer agrees
--- with it: another line, text after the cursor changed, or typed text that differs from it.
local function remainder(suggestion)
  if vim.api.nvim_get_current_buf() ~= suggestion.bufnr then
    return nil
  end
  local row, col = cursor()
  if row ~= suggestion.row or col < suggestion.col then
    return nil
  end
  local line = line_at(suggestion.bufnr, row)
  if line:sub(col + 1) ~= suggestion.after then
    return nil
  end
  local typed = line:sub(suggestion.col + 1, col)
  if suggestion.text:sub(1, #typed) ~= typed then
    return nil
  end
  local rest = suggestion.text:sub(#typed + 1)
  return rest ~= "" and rest or nil
end

-- Virtual text shows a tab as one cell; spaces keep the suggestion's indentation readable.
local function expand_tabs(s)
  return (s:gsub("\t", string.rep(" ", vim.bo.tabstop)))
end

local function render(suggestion, rest)
  vim.api.nvim_buf_clear_namespace(suggestion.bufnr, M.namespace, 0, -1)
  local lines = vim.split(rest, "\n", { plain = true })
  local virt_lines = {}
  for i = 2, #lines do
    virt_lines[#virt_lines + 1] = { { expand_tabs(lines[i]), M.hl_group } }
  end
  local row, col = cursor()
  vim.api.nvim_buf_set_extmark(suggestion.bufnr, M.namespace, row, col, {
    virt_text = lines[1] ~= "" and { { expand_tabs(lines[1]), M.hl_group } } or nil,
    virt_text_pos = "inline",
    virt_lines = #virt_lines > 0 and virt_lines or nil,
    hl_mode = "combine",
  })
end

--- Redraw the suggestion for the current cursor; false (and cleared) when it no longer applies.
local function refresh()
  local suggestion = state.suggestion
  local rest = suggestion and remainder(suggestion)
  if not rest then
    M.clear()
    return false
  end
  render(suggestion, rest)
  return true
end

local function first_item(result)
  local items = result and (result.items or result) or {}
  local item = items[1]
  if not item or item.insertText == nil then
    return nil
  end
  -- A snippet is shown and inserted as its plain text; codegen-lsp sends plain text.
  local insert = type(item.insertText) == "table" and item.insertText.value or item.insertText
  return insert ~= "" and { text = insert, range = item.range } or nil
end

--- Make `item` ({ text, range? }, its range in `encoding`) the suggestion shown at the cursor,
--- which is where it was asked for.
function M.show(bufnr, encoding, item)
  bufnr = bufnr == 0 and vim.api.nvim_get_current_buf() or bufnr
  local row, col = cursor()
  local start_row, start_col, end_row, end_col = row, col, row, col
  if item.range then
    start_row, start_col = position.from_lsp(bufnr, item.range.start, encoding)
    end_row, end_col = position.from_lsp(bufnr, item.range["end"], encoding)
  end
  if start_row ~= row or start_col > col then
    return -- not text that continues the cursor's line; there is no sensible place to show it
  end
  local line = line_at(bufnr, row)
  state.suggestion = {
    bufnr = bufnr,
    row = row,
    col = start_col,
    text = item.text,
    after = line:sub(col + 1),
    -- Where the item's range ends (accepting replaces up to there). On the cursor's line it is
    -- kept as a distance from the cursor, so that typing the suggestion does not shift it.
    end_row = end_row,
    end_col = end_row ~= row and end_col or nil,
    past_cursor = end_row == row and math.max(0, end_col - col) or nil,
  }
  refresh()
end

local function request(bufnr)
  local client = lsp.client(bufnr)
  if not client or not client.server_capabilities.inlineCompletionProvider then
    return
  end
  cancel_pending()
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.context = { triggerKind = AUTOMATIC }
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  local row, col = cursor()
  local id
  local ok, request_id = lsp.request(client, "textDocument/inlineCompletion", params, function(err, result)
    if not state.pending or state.pending.id ~= id then
      return -- superseded by a newer keystroke
    end
    state.pending = nil
    if err then
      -- Once: a broken server would otherwise say it on every keystroke.
      if err.code ~= REQUEST_CANCELLED then
        vim.notify_once("codegen-lsp: inline completion failed: " .. (err.message or vim.inspect(err)),
          vim.log.levels.WARN)
      end
      return
    end
    local now_row, now_col = cursor()
    local still_here = vim.api.nvim_get_current_buf() == bufnr and vim.api.nvim_buf_get_changedtick(bufnr) == tick
      and now_row == row and now_col == col and vim.fn.mode():sub(1, 1) == "i"
    local item = still_here and first_item(result)
    if item and M.enabled_for(bufnr) then
      M.show(bufnr, client.offset_encoding, item)
    end
  end, bufnr)
  if ok then
    id = request_id
    state.pending = { client = client, id = request_id }
  end
end

local function schedule_request(bufnr)
  state.timer = state.timer or vim.uv.new_timer()
  state.timer:stop()
  state.timer:start(config.options.ghost_text.debounce_ms or 75, 0, vim.schedule_wrap(function()
    if vim.api.nvim_get_current_buf() == bufnr and vim.fn.mode():sub(1, 1) == "i" then
      request(bufnr)
    end
  end))
end

local function stop()
  if state.timer then
    state.timer:stop()
  end
  cancel_pending()
  M.clear()
end

--- A keystroke or cursor move in insert mode.
local function on_change(bufnr)
  local row, col = cursor()
  local seen = ("%d:%d:%d:%d"):format(bufnr, vim.api.nvim_buf_get_changedtick(bufnr), row, col)
  if seen == state.seen then
    return -- TextChangedI and CursorMovedI of the same keystroke
  end
  state.seen = seen
  if not M.enabled_for(bufnr) or vim.fn.pumvisible() == 1 then
    stop()
    return
  end
  cancel_pending()
  if not refresh() then
    schedule_request(bufnr)
  end
end

function M.attach(bufnr)
  local group = vim.api.nvim_create_augroup("codegen_lsp_ghost_" .. bufnr, { clear = true })
  vim.api.nvim_create_autocmd({ "InsertEnter", "TextChangedI", "CursorMovedI" }, {
    group = group,
    buffer = bufnr,
    callback = function()
      on_change(bufnr)
    end,
  })
  vim.api.nvim_create_autocmd({ "InsertLeave", "BufLeave" }, {
    group = group,
    buffer = bufnr,
    callback = function()
      state.seen = nil
      stop()
    end,
  })
end

function M.detach(bufnr)
  pcall(vim.api.nvim_del_augroup_by_name, "codegen_lsp_ghost_" .. bufnr)
  if state.suggestion and state.suggestion.bufnr == bufnr then
    stop()
  end
end

function M.visible()
  return state.suggestion ~= nil and remainder(state.suggestion) ~= nil
end

--- The suggestion's remaining text, or nil (used by tests and statuslines).
function M.current_text()
  return state.suggestion and remainder(state.suggestion)
end

--- Accept all of the suggestion, its next word or the rest of its line; false when none is showing.
function M.accept(kind)
  local suggestion = state.suggestion
  local rest = suggestion and remainder(suggestion)
  if not rest then
    return false
  end
  if kind == "word" or kind == "line" then
    text.insert_at_cursor(text.piece(rest, kind))
    refresh()
    return true
  end
  -- All of it: replace the item's whole range, which may reach past the cursor.
  M.clear()
  cancel_pending()
  local row, col = cursor()
  local end_row, end_col = suggestion.end_row, suggestion.end_col
  if end_row == row then
    end_col = math.min(col + suggestion.past_cursor, #line_at(suggestion.bufnr, row))
  end
  local lines = vim.split(suggestion.text, "\n", { plain = true })
  vim.api.nvim_buf_set_text(suggestion.bufnr, row, suggestion.col, end_row, end_col, lines)
  local last = #lines == 1 and suggestion.col + #lines[1] or #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { row + #lines, last })
  return true
end

function M.dismiss()
  if not M.visible() then
    return false
  end
  stop()
  return true
end

function M.set_enabled(on)
  state.enabled = on
  if not on then
    stop()
  end
end

function M.is_enabled()
  return enabled()
end

return M
