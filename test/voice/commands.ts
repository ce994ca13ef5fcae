/**
 * Spoken health commands for the voice round-trip test and bench: what a person says, and the agent
 * tool it should lead to (undefined: a reply without a tool). Written for this test, not copied from
 * the grammar corpus.
 */
export const spokenCommands: { text: string; tool?: string }[] = [
  { text: 'my blood pressure is one forty over ninety', tool: 'log_readings' },
  { text: 'blood pressure one twenty two over seventy eight', tool: 'log_readings' },
  { text: 'one thirty five over eighty five', tool: 'log_readings' },
  { text: 'my blood pressure was one fifty two over ninety four', tool: 'log_readings' },
  { text: 'a hundred and eighteen over seventy two', tool: 'log_readings' },
  { text: 'my blood pressure is one sixty over one hundred', tool: 'log_readings' },
  { text: 'my heart rate is seventy two', tool: 'log_readings' },
  { text: 'pulse sixty eight', tool: 'log_readings' },
  { text: 'my pulse is eighty four beats per minute', tool: 'log_readings' },
  { text: 'oxygen saturation ninety six', tool: 'log_readings' },
  { text: 'my oxygen level is ninety four percent', tool: 'log_readings' },
  { text: 'my blood sugar is six point eight', tool: 'log_readings' },
  { text: 'my blood sugar is one hundred and twenty', tool: 'log_readings' },
  { text: 'sugar level seven point two', tool: 'log_readings' },
  { text: 'my glucose was one forty five', tool: 'log_readings' },
  { text: 'my weight is seventy two kilos', tool: 'log_readings' },
  { text: 'i weigh sixty five kilograms', tool: 'log_readings' },
  { text: 'i weigh eleven stone four', tool: 'log_readings' },
  { text: 'my temperature is thirty seven point five', tool: 'log_readings' },
  { text: 'temperature thirty eight point two degrees', tool: 'log_readings' },
  { text: 'i slept seven hours', tool: 'log_readings' },
  { text: 'i slept six and a half hours last night', tool: 'log_readings' },
  { text: 'i walked four thousand steps today', tool: 'log_readings' },
  { text: 'i took my metformin', tool: 'confirm_dose' },
  { text: 'i have taken my lisinopril', tool: 'confirm_dose' },
  { text: 'i took my tablets', tool: 'confirm_dose' },
  { text: 'i took my pills', tool: 'confirm_dose' },
  { text: 'i skipped my warfarin', tool: 'confirm_dose' },
  { text: 'i missed my amlodipine this morning', tool: 'confirm_dose' },
  { text: 'i took my aspirin', tool: 'confirm_dose' },
  { text: 'what medicines do i take', tool: 'list_medicines' },
  { text: 'what are my medicines', tool: 'list_medicines' },
  { text: 'what are my medications', tool: 'list_medicines' },
  { text: 'when do i take my metformin', tool: 'next_dose' },
  { text: 'what is my next medicine', tool: 'next_dose' },
  { text: 'did i take my ramipril', tool: 'next_dose' },
  { text: 'when is my next dose', tool: 'next_dose' },
  { text: 'add atorvastatin twenty milligrams at bedtime', tool: 'add_medicine' },
  { text: 'remind me to take my omeprazole at eight in the morning', tool: 'add_medicine' },
  { text: 'add paracetamol five hundred milligrams at noon', tool: 'add_medicine' },
  { text: 'what was my last blood pressure', tool: 'query_readings' },
  { text: 'what was my blood pressure yesterday', tool: 'query_readings' },
  { text: 'how is my blood sugar', tool: 'query_readings' },
  { text: 'what was my blood sugar this morning', tool: 'query_readings' },
  { text: 'what is my average blood pressure', tool: 'query_readings' },
  { text: 'how much do i weigh', tool: 'query_readings' },
  { text: 'how did i sleep last night', tool: 'query_readings' },
  { text: 'help i have fallen', tool: 'raise_emergency' },
  { text: "i've fallen and i can't get up", tool: 'raise_emergency' },
  { text: 'i have chest pain', tool: 'raise_emergency' },
  { text: "i can't breathe", tool: 'raise_emergency' },
  { text: 'call an ambulance', tool: 'raise_emergency' },
  { text: 'tell my daughter i am fine', tool: 'message_caregivers' },
  { text: 'ask my son to call me', tool: 'message_caregivers' },
  { text: 'send a message to my daughter', tool: 'message_caregivers' },
  { text: 'what is the weather', tool: 'get_weather' },
  { text: 'is it going to rain today', tool: 'get_weather' },
  { text: 'do i have any appointments today', tool: 'get_appointments' },
  { text: 'cancel my aspirin reminder', tool: 'cancel_reminder' },
  { text: 'stop my simvastatin', tool: 'remove_medicine' },
  { text: 'thank you' },
  { text: 'good morning' },
  { text: 'hello' },
  { text: 'what time is it', tool: 'get_time' },
  { text: 'good night' },
  { text: 'what can you do' },
  // Emergency phrasings, last so the voices of the commands above stay as they were measured.
  { text: "i've fallen", tool: 'raise_emergency' },
  { text: 'help me', tool: 'raise_emergency' },
  { text: 'help help', tool: 'raise_emergency' },
  // The time and the date (answered on the device), after the rest for the same reason.
  { text: "what's the date today", tool: 'get_time' },
  { text: 'what day of the week is it', tool: 'get_time' },
];

/**
 * Speech outside the health domain: the domain model must not force it into a health action. Each is
 * either rejected ("say again") or answered without a tool.
 */
export const outOfDomain = [
  'the quick brown fox jumps over the lazy dog',
  'i would like to order a large pizza with extra cheese',
  'what is the capital city of france',
  'the football match was cancelled because of the snow',
  'please play some jazz music in the kitchen',
  'my grandson is learning to play the violin',
  'turn off the lights in the living room',
  'the train to london leaves from platform four',
  'could you recommend a good book about gardening',
  'the committee approved the new budget on thursday',
];

/**
 * Commands kept out of the tuning of the domain model (vocabulary, dictionary, decoder flags): the
 * word-only phrases of the agent's held-out set (device/agent/heldout.json, numbers in words) and
 * ones written before the tuning. Their WER shows how far the figures on spokenCommands carry over.
 */
export const heldOutCommands: { text: string; tool?: string }[] = [
  {
    text: 'my blood pressure came out at one fifty two over ninety one with a pulse of seventy seven',
    tool: 'log_readings',
  },
  { text: 'sugar reading eight point four at nine this morning', tool: 'log_readings' },
  { text: 'heart rate of sixty six', tool: 'log_readings' },
  { text: 'my weight is eighty two point five kilos', tool: 'log_readings' },
  { text: 'temp is thirty seven point four', tool: 'log_readings' },
  { text: 'i managed two thousand steps yesterday', tool: 'log_readings' },
  { text: 'please add ibuprofen two hundred milligrams at one pm', tool: 'add_medicine' },
  { text: 'move the aspirin reminder to nine pm', tool: 'change_reminder' },
  { text: 'blood pressure one twenty two over seventy eight and pulse sixty', tool: 'log_readings' },
  { text: 'what did my sugar average this week', tool: 'query_readings' },
  { text: "how's my blood pressure been over the past week", tool: 'query_readings' },
  { text: 'what was my highest temperature yesterday', tool: 'query_readings' },
  { text: 'show me my oxygen levels from yesterday', tool: 'query_readings' },
  { text: 'remind me to take my metformin at breakfast and dinner', tool: 'add_medicine' },
  { text: 'i have a new prescription for clopidogrel' },
  { text: 'i have taken my evening medicine', tool: 'confirm_dose' },
  { text: 'i skipped the metformin this morning', tool: 'confirm_dose' },
  { text: 'when do i take my next pills', tool: 'next_dose' },
  { text: 'cancel the ibuprofen reminder', tool: 'cancel_reminder' },
  { text: 'send my daughter a message saying happy birthday', tool: 'message_caregivers' },
  { text: "what's the weather going to be like tomorrow", tool: 'get_weather' },
  { text: 'what appointments have i got today', tool: 'get_appointments' },
  { text: "i think i'm having a stroke", tool: 'raise_emergency' },
  { text: "i've cut myself and it won't stop bleeding", tool: 'raise_emergency' },
  { text: 'i do not have chest pain or breathlessness' },
  { text: 'is it safe to stop taking my aspirin' },
  { text: 'what does a high pulse mean' },
  { text: 'hello there' },
  { text: 'my blood pressure this morning was one twenty eight over eighty two', tool: 'log_readings' },
  { text: 'my sugar is five point six', tool: 'log_readings' },
  { text: 'my pulse is ninety', tool: 'log_readings' },
  { text: 'oxygen is ninety seven percent', tool: 'log_readings' },
  { text: 'i weigh seventy eight kilos', tool: 'log_readings' },
  { text: 'i took my bisoprolol this morning', tool: 'confirm_dose' },
  { text: 'i forgot to take my furosemide', tool: 'confirm_dose' },
  { text: 'when should i take my digoxin', tool: 'next_dose' },
  { text: 'remind me to take my donepezil at nine in the evening', tool: 'add_medicine' },
  { text: 'what was my pulse yesterday', tool: 'query_readings' },
  { text: 'i feel very dizzy and i fell over', tool: 'raise_emergency' },
  { text: 'please call my son', tool: 'message_caregivers' },
  { text: 'tell my daughter i will be late', tool: 'message_caregivers' },
  { text: 'will it be cold tomorrow', tool: 'get_weather' },
  { text: 'good afternoon' },
  { text: 'what day is it today', tool: 'get_time' },
];

/**
 * Emergency phrasings for the emergency-recall probe (scripts/voice-emergency.ts): each said by every
 * test voice must be recognized well enough for the agent's emergency detection. Not used to tune.
 */
export const emergencyPhrasings = [
  'help me',
  'help',
  'please help me',
  'i need help',
  "i've fallen",
  "i've fallen and i can't get up",
  "i can't breathe",
  'i have chest pain',
  'call an ambulance',
  "i've got chest pain",
];

/** Voices and rates the commands are spoken with (engine, voice, words per minute). */
export const testVoices = [
  { engine: 'espeak', voice: 'en-us', rate: 150 },
  { engine: 'espeak', voice: 'en-gb', rate: 130 },
  { engine: 'espeak', voice: 'en-us+f3', rate: 170 },
  { engine: 'flite', voice: 'slt', rate: 150 },
  { engine: 'flite', voice: 'kal16', rate: 175 },
  { engine: 'flite', voice: 'awb', rate: 140 },
] as const;

/** Word error rate: word-level Levenshtein distance over reference length. */
export function wordErrors(ref: string, hyp: string): { errors: number; words: number } {
  const norm = (s: string) =>
    s
      .toLowerCase()
      .replace(/[^a-z' ]+/g, ' ')
      .split(/\s+/)
      .filter(Boolean);
  const r = norm(ref);
  const h = norm(hyp);
  const d = Array.from({ length: r.length + 1 }, (_, i) => [i, ...Array(h.length).fill(0)] as number[]);
  for (let j = 1; j <= h.length; j++) d[0]![j] = j;
  for (let i = 1; i <= r.length; i++) {
    for (let j = 1; j <= h.length; j++) {
      d[i]![j] = Math.min(
        d[i - 1]![j]! + 1,
        d[i]![j - 1]! + 1,
        d[i - 1]![j - 1]! + (r[i - 1] === h[j - 1] ? 0 : 1),
      );
    }
  }
  return { errors: d[r.length]![h.length]!, words: r.length };
}
