-- Runs inside rpm: rpm --eval "%{lua: input = 'IN'; output = 'OUT';
-- dofile('rpm-vercmp.lua')}". input names a file with one version a
-- line. Every pair of them, each version with itself too, goes to output
-- as "A <tab> B <tab> order". The order is rpm.vercmp(A, B), or "error"
-- when rpm rejects one of them.
local versions = {}
for line in io.lines(input) do
    versions[#versions + 1] = line
end

local out = assert(io.open(output, "w"))
for i = 1, #versions do
    for j = i, #versions do
        local a, b = versions[i], versions[j]
        local ok, order = pcall(rpm.vercmp, a, b)
        if not ok then
            order = "error"
        end
        out:write(a, "\t", b, "\t", tostring(order), "\n")
    end
end
out:close()
