# A char[8] field holds at most 7 characters: an 8-character prefix never matches.
# expect: char_field_prefix_too_long.rb:12:28: error: "abcdefgh" has 8 characters: longer than a char[8] (at most 7 characters), so `start_with?` is always false
license "GPL"
struct :Rec do
  char :name, 8
end
map :counts, :array, value: :u64, max_entries: 1

tracepoint "syscalls/sys_enter_getppid" do |ctx|
  r = Rec.new
  r.name = comm
  counts[0] += 1 if r.name.start_with?("abcdefgh")
  0
end
