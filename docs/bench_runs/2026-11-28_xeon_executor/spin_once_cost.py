"""Cost of one idle SingleThreadedExecutor.spin_once over the VIO node (2026-11-28 17:5x UTC, 2-core Intel Xeon:
0.20-0.22 ms; 0.14 ms with its QoS-event waitables removed). Run: .venv/bin/python spin_once_cost.py"""
import rclpy, time, sys
from rclpy.executors import SingleThreadedExecutor
rclpy.init()
from arvr_hybrid_vio.nodes.vio_node import VioNode
node = VioNode()
print("subs", len(list(node.subscriptions)), "pubs", len(list(node.publishers)), "services", len(list(node.services)),
      "timers", len(list(node.timers)), "waitables", len(list(node.waitables)), "guards", len(list(node.guards)))
for w in node.waitables: print(type(w).__name__)
ex = SingleThreadedExecutor(); ex.add_node(node)
# cost of a spin_once with nothing ready (timeout 0)
for _ in range(200): ex.spin_once(timeout_sec=0)
t0 = time.perf_counter(); n = 3000
for _ in range(n): ex.spin_once(timeout_sec=0)
print("spin_once idle us", (time.perf_counter()-t0)/n*1e6)
for w in list(node.waitables): node.remove_waitable(w)
for _ in range(200): ex.spin_once(timeout_sec=0)
t0 = time.perf_counter()
for _ in range(n): ex.spin_once(timeout_sec=0)
print("spin_once idle, no event handlers, us", (time.perf_counter()-t0)/n*1e6)
node.stop(); node.destroy_node(); rclpy.shutdown()
