-- Drives a headless Neovim for tests/editors/test_nvim.py: a test is a coroutine that can sleep
-- and wait for conditions while Neovim's main loop runs (so typed keys, autocommands and LSP
-- messages are processed), and that ends by writing a JSON result and quitting.
local H = { result = {} }

local out_path = assert(vim.env.CODEGEN_TEST_RESULT, "CODEGEN_TEST_RESULT is not set")
local step
local finished = false

local function messages()
  local ok, got = pcall(vim.api.nvim_exec2, "messages", { output = true })
  return ok and got.output or ""
end

function H.finish(failure)
  if finished then
    return
  end
  finished = true
  H.result.error = failure
  H.result.messages = messages()
  local file = assert(io.open(out_path, "w"))
  file:write(vim.json.encode(H.result))
  file:close()
  vim.cmd("qa!")
end

function H.sleep(ms)
  vim.defer_fn(step, ms)
  coroutine.yield()
end

--- Wait until `condition()` returns a truthy value (returned), polling; fail after `timeout_ms`.
function H.wait_for(what, condition, timeout_ms)
  local deadline = vim.uv.now() + (timeout_ms or 60000)
  while true do
    local value = condition()
    if value then
      return value
    end
    if vim.uv.now() > deadline then
      error("timed out waiting for " .. what, 0)
    end
    H.sleep(100)
  end
end

local typed, taken = 0, 0

function H._taken(n)
  taken = n
end

--- Type keys as a user would: they go through mappings and fire the insert-mode autocommands.
--- Returns once Neovim has taken them all: a <Cmd> typed after them has run.
function H.type(keys)
  typed = typed + 1
  local n = typed
  vim.api.nvim_input(keys .. ("<Cmd>lua require('nvim_harness')._taken(%d)<CR>"):format(n))
  H.wait_for("Neovim to take the keys " .. keys, function()
    return taken >= n
  end, 10000)
end

function H.client()
  return vim.lsp.get_clients({ name = "codegen_lsp", bufnr = 0 })[1]
end

--- The buffer's lines with the extmarks' virtual text of `namespace` drawn in, like the screen;
--- with `annotate`, a line of carets under inline virtual text says which text is virtual.
function H.render(bufnr, namespace, annotate)
  local lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  local out = {}
  local marks = vim.api.nvim_buf_get_extmarks(bufnr, namespace, 0, -1, { details = true })
  local by_row = {}
  for _, mark in ipairs(marks) do
    by_row[mark[2]] = by_row[mark[2]] or {}
    table.insert(by_row[mark[2]], mark)
  end
  for row, line in ipairs(lines) do
    local marks_here = by_row[row - 1] or {}
    table.sort(marks_here, function(a, b)
      return a[3] > b[3]
    end)
    local after = {}
    for _, mark in ipairs(marks_here) do
      local details = mark[4]
      local virt = ""
      for _, chunk in ipairs(details.virt_text or {}) do
        virt = virt .. chunk[1]
      end
      if annotate and virt ~= "" then
        local carets = string.rep(" ", vim.fn.strdisplaywidth(line:sub(1, mark[3])))
          .. string.rep("^", vim.fn.strdisplaywidth(virt))
        table.insert(after, 1, carets .. "  ghost text")
      end
      line = line:sub(1, mark[3]) .. virt .. line:sub(mark[3] + 1)
      for _, virt_line in ipairs(details.virt_lines or {}) do
        local text = ""
        for _, chunk in ipairs(virt_line) do
          text = text .. chunk[1]
        end
        table.insert(after, text)
      end
    end
    table.insert(out, line)
    vim.list_extend(out, after)
  end
  return out
end

--- Run `test` as the test's coroutine; it fails on an error or after `timeout_ms`.
function H.run(test, timeout_ms)
  local co = coroutine.create(test)
  step = function()
    if finished then
      return
    end
    local ok, err = coroutine.resume(co)
    if not ok then
      H.finish(debug.traceback(co, tostring(err)))
    elseif coroutine.status(co) == "dead" then
      H.finish(nil)
    end
  end
  vim.defer_fn(function()
    H.finish(("the test did not finish within %d s"):format((timeout_ms or 90000) / 1000))
  end, timeout_ms or 90000)
  vim.schedule(step)
end

return H
