package tlsproxy

const memClientEnv = "TLSPROXY_MEM_CLIENT"

func runMemClient() int { return 0 }
