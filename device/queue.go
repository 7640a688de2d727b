package device

// keyQueue is the line of calls changing one device.
type keyQueue struct {
	tail chan struct{} // closed when the last call in line is done
	n    int           // calls in line, the one running included
}

// lockKey waits for the device key's turn among the calls changing it, in
// the order they called lockKey, and returns the function that ends the
// turn. It is turnKey without the stamp.
func (m *Manager) lockKey(key string) (unlock func()) {
	_, unlock = m.turnKey(key)
	return unlock
}

// turnKey is lockKey returning also a stamp (see Stamp) taken as the call
// joined the line: for one device, later in line is later stamped.
func (m *Manager) turnKey(key string) (stamp uint64, unlock func()) {
	m.queueMu.Lock()
	stamp = m.Stamp()
	q := m.queues[key]
	if q == nil {
		q = &keyQueue{}
		m.queues[key] = q
	}
	prev, mine := q.tail, make(chan struct{})
	q.tail = mine
	q.n++
	m.queueMu.Unlock()
	if prev != nil {
		<-prev
	}
	return stamp, func() {
		m.queueMu.Lock()
		if q.n--; q.n == 0 {
			delete(m.queues, key)
		}
		m.queueMu.Unlock()
		close(mine)
	}
}

// Stamp returns a receive stamp, later than every one returned before. A
// caller that learns devices from a snapshot taken elsewhere (EdgeCore's
// answer to a registration) takes a stamp before asking for it and puts
// every device of the answer with it: a device changed or removed after the
// stamp was taken keeps its newer spec.
func (m *Manager) Stamp() uint64 { return m.stamps.Add(1) }
