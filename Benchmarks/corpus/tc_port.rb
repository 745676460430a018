# tc ingress: drop UDP to port 53 (DNS), count drops and passes; the
# headers read with skb_load_bytes.
license "GPL"
TC_ACT_OK = 0
TC_ACT_SHOT = 2
map :verdicts, :array, value: :u64, max_entries: 2

struct :Hdr do
  u8  :proto
end
struct :Port do
  u16 :dest
end

tc :ingress, name: "tc_port" do |ctx|
  h = Hdr.new
  p = Port.new
  if ctx.protocol == 0x0008 && skb_load_bytes(ctx, 23, h, 1) == 0 && h.proto == 17 &&
     skb_load_bytes(ctx, 36, p, 2) == 0 && p.dest == 0x3500
    verdicts[1] += 1
    return TC_ACT_SHOT
  end
  verdicts[0] += 1
  TC_ACT_OK
end
