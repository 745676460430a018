# An int LSM hook's program returns 0 or a negative errno; 1 is neither.
# expect: lsm_return_out_of_range.rb:5:3: error: lsm programs return 0 to allow or a negative errno (-4095…-1) to deny; this returns 1
license "GPL"
lsm "file_open" do |ctx|
  1
end
