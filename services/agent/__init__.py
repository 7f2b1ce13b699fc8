"""The node agent: one process per GPU node, the scheduler's hands.

domain/   pure rules: epoch fencing, the state kept across restarts, energy deltas, restart backoff,
          the workload environment
app/      use cases over ports: workloads (launch, watch, restart, stop, reconcile), commands,
          usage sampling, the agent's life (register, heartbeat)
adapters/ JetStream publisher and command consumer, the state file (JSON snapshot plus a journal)
gpu/      the GpuBackend port with NVML and simulated backends
runtime/  workload processes and the wrapper that records their exit codes
"""
