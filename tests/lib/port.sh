# free_port: a TCP port on 127.0.0.1 that nothing listens on, taken below the kernel's ephemeral
# range (net.ipv4.ip_local_port_range): a port inside it can be the local end of one of the
# test's own outgoing connections by the time a server binds it (seen: a Swift container server
# that could not bind, and every container PUT answered 503).
free_port() {
    local lo hi p
    read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range 2> /dev/null || lo=32768
    if [ "${lo:-0}" -gt 12000 ]; then hi=$((lo - 1)); lo=10000; else lo=20000 hi=29999; fi
    for _ in $(seq 1 200); do
        p=$((lo + RANDOM % (hi - lo + 1)))
        if ! (exec 3<> "/dev/tcp/127.0.0.1/$p") 2> /dev/null; then echo "$p"; return 0; fi
    done
    return 1
}
