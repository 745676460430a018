# Signals generated, counted by signal number and the sender's name
# (signal:signal_generate fires in the sending task).
license "GPL"

tracepoint "signal/signal_generate", name: "signal_generate" do |ctx|
  @signals[ctx.sig, comm] += 1
  0
end
