# `comm` holds at most 15 characters: a longer literal can never be equal.
# expect: comm_literal_too_long.rb:7:11: error: "a-name-longer-than-15" has 21 characters: longer than `comm` (char[16], at most 15 characters), so `==` is always false
license "GPL"
map :counts, :array, value: :u64, max_entries: 1

tracepoint "syscalls/sys_enter_getppid" do |ctx|
  if comm == "a-name-longer-than-15"
    counts[0] += 1
  end
  0
end
