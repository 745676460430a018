# A u64 param compared `0 <= x` is always true.
# expect: unsigned_at_least_zero.rb:7:8: error: this comparison is always true: the value compared with 0 is unsigned (u64), never below 0
license "GPL"
param :limit, :u64, default: 5

kprobe "do_sys_openat2" do |ctx|
  if 0 <= limit
    1
  else
    0
  end
end
