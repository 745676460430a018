# A BTF tracepoint is a btf_trace_<event> typedef in the kernel's BTF.
# expect: tp_btf_unknown.rb:3:1: error: no BTF tracepoint 'no_such_event' (no btf_trace_no_such_event in BTF)
tp_btf "no_such_event" do |ctx|
  0
end
