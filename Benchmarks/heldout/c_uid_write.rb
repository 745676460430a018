# Bytes written per uid (sum, largest, average size) for uids from
# --min-uid up; a total count of such writes; a puts line for each write
# of at least --big bytes.
license "GPL"
param :min_uid, :u32, default: 1000
param :big, :s64, default: 1 << 20

tracepoint "syscalls/sys_exit_write", name: "uid_write" do |ctx|
  ret = ctx.ret
  return 0 if ret <= 0
  u = uid
  return 0 if u < min_uid
  @bytes[u].sum(ret)
  @largest[u].max(ret)
  @avg_size[u].avg(ret)
  @writes.count
  puts "big write: uid #{u} #{comm} #{ret} bytes" if ret >= big
  0
end
