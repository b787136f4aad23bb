-- Insert-mode keys for the ghost text. Accept and dismiss keys only act while a suggestion is
-- showing; otherwise the key does what it did before (its previous <expr> mapping, else itself).
local config = require("codegen_lsp.config")

local M = {}

local DESC = "codegen-lsp: "

-- Mappings like Neovim 0.11's <Tab> for snippet jumps are <expr> callbacks: keep calling them.
local function previous_mapping(lhs)
  local previous = vim.fn.maparg(lhs, "i", false, true)
  local ours = type(previous.desc) == "string" and previous.desc:sub(1, #DESC) == DESC
  if not ours and previous.expr == 1 and type(previous.callback) == "function" then
    return previous.callback
  end
  return function()
    return lhs
  end
end

local function map_with_fallback(bufnr, lhs, desc, action)
  local fallback = previous_mapping(lhs)
  vim.keymap.set("i", lhs, function()
    if require("codegen_lsp").visible() then
      return ("<Cmd>lua require('codegen_lsp').%s()<CR>"):format(action)
    end
    return fallback()
  end, { buffer = bufnr, expr = true, replace_keycodes = true, silent = true, desc = DESC .. desc })
end

-- The keys that act on a suggestion: (option name and the function of codegen_lsp it calls, description).
local SUGGESTION_KEYS = {
  { "accept", "accept the suggestion" },
  { "accept_word", "accept the suggestion's next word" },
  { "accept_line", "accept the suggestion's line" },
  { "dismiss", "dismiss the suggestion" },
}

--- Map the configured keys in `bufnr`; a key set to false is left alone.
function M.attach(bufnr)
  local keys = config.options.keymaps
  if not keys then
    return
  end
  for _, key in ipairs(SUGGESTION_KEYS) do
    local action, desc = key[1], key[2]
    if keys[action] then
      map_with_fallback(bufnr, keys[action], desc, action)
    end
  end
  if keys.toggle then
    vim.keymap.set({ "n", "i" }, keys.toggle, function()
      require("codegen_lsp").toggle()
    end, { buffer = bufnr, silent = true, desc = DESC .. "toggle ghost text" })
  end
end

return M
