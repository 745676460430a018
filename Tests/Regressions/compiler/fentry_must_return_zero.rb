# The kernel requires fentry/fexit programs to return 0 (check_return_code).
# expect: fentry_must_return_zero.rb:4:3: error: fentry programs must return 0; this returns 1
fentry "do_unlinkat" do |ctx|
  1
end
