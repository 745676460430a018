# tp_btf names the event alone (libbpf's tp_btf/EVENT), not CATEGORY/EVENT.
# expect: tp_btf_category.rb:3:1: error: tp_btf takes the tracepoint's event name alone, not "sched/sched_switch"
tp_btf "sched/sched_switch" do |ctx|
  0
end
