import { openEngine } from "runlog";
import type { Run } from "runlog";
export async function main(run: Run): Promise<void> {
  await openEngine({ durability: "batch" });
  await run.appendLifecycle({ type: "worker_exploded", level: "info", message: "m" }); // EXPECT-ERROR: not a WorkerLifecycleEventType
}
