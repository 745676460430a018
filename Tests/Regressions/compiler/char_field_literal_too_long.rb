# A literal stored into a char[N] field must leave room for its NUL.
# expect: char_field_literal_too_long.rb:12:5: error: the string "Hashes" has 6 bytes: field `kind` (char[6]) holds at most 5 and a NUL
license "GPL"
struct :Site do
  char :kind, 6
  u32 :line
end
map :sites, :hash, key: :Site, value: :u64

tracepoint "syscalls/sys_enter_getppid" do |ctx|
  s = Site.new
  s.kind = "Hashes"
  sites[s] += 1
  0
end
