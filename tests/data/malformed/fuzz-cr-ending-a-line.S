# cargo-fuzz (iptables_save), ninth finding: the last line ends in a carriage return and a space.
-N X
-A X -p tcp -j ACCEPT  
