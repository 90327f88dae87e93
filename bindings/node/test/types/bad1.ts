import { openEngine } from "runlog";
export async function main(): Promise<void> {
  const engine = await openEngine({ runsRoot: "runs" });
  await engine.openRun({ taskId: "t1", runId: "r1" }); // EXPECT-ERROR: a RunMetadataInput lacks its other fields
}
