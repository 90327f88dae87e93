import { openEngine } from "runlog";
export async function main(): Promise<void> {
  const engine = await openEngine({ runsRoot: "runs" });
  const conv = await engine.openConversation("c1");
  await conv.append("assistant", { type: "text", body: "hi" }); // EXPECT-ERROR: not a Chunk
}
