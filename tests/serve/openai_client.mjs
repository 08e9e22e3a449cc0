// The npm `openai` SDK as a real client of `flywheel serve`: chat with
// streaming, completions with `suffix`, and an error. Prints one JSON object
// with what it saw; tests/serve/openai_sdk_test.cpp checks it.
// Usage: FLYWHEEL_BASE_URL=http://127.0.0.1:PORT node openai_client.mjs
import OpenAI from "openai";

const client = new OpenAI({
  baseURL: `${process.env.FLYWHEEL_BASE_URL}/v1`,
  apiKey: process.env.FLYWHEEL_API_KEY || "unused",
  maxRetries: 0,
});

const stream = await client.chat.completions.create({
  model: "auto",
  messages: [
    { role: "system", content: "You write Python." },
    { role: "user", content: "Add two numbers." },
  ],
  stream: true,
  max_tokens: 8,
  temperature: 0,
});
let chunks = 0;
let text = "";
let finish = null;
let role = null;
for await (const chunk of stream) {
  chunks += 1;
  const choice = chunk.choices[0];
  if (!choice) continue;
  if (choice.delta?.role) role = choice.delta.role;
  if (choice.delta?.content) text += choice.delta.content;
  if (choice.finish_reason) finish = choice.finish_reason;
}

const completion = await client.completions.create({
  model: "auto",
  prompt: "def add(a, b):\n    return ",
  suffix: "\n\nprint(add(1, 2))\n",
  max_tokens: 8,
  temperature: 0,
});

let notFound = null;
try {
  await client.completions.create({ model: "no-such-model", prompt: "x" });
} catch (e) {
  notFound = { status: e.status, code: e.code, type: e.type, param: e.param };
}

console.log(
  JSON.stringify({
    chat: { chunks, role, text, finish },
    completion: {
      id: completion.id,
      object: completion.object,
      text: completion.choices[0].text,
      finish: completion.choices[0].finish_reason,
      usage: completion.usage,
    },
    notFound,
  }),
);
