// Package bpf holds the C sources of shaper's tc programs and the Go
// bindings bpf2go generates from them: the map key and value types every
// other package shares. Regenerate with `make generate` (go generate); the
// output is byte-reproducible and committed.
package bpf

//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target bpfel -type mask -type proc_key -type cgroup_key -type ident -type counter -type sel_val -type lpm4_key -type lpm6_key -type slot4 -type slot6 -type config -type addr_info -type gen_info -type link_kind -type field -type addr_field -type flow_key -type flow_val -type ingress_path Classifier classifier.c
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target bpfel Empty empty.c
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target bpfel Sock sock.c
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target bpfel Redirect redirect.c
