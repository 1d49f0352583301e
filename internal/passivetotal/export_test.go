package passivetotal

// QuotaWaiters returns how many checks wait for the quota read in flight,
// zero when none is: tests use it to know every check has joined the read.
func QuotaWaiters(c *Client) int {
	c.quota.mu.Lock()
	defer c.quota.mu.Unlock()
	if c.quota.inFlight == nil {
		return 0
	}
	return c.quota.inFlight.waiters
}
