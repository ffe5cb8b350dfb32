"""Plain English for pre-training the tiny teaching model, generated from a small grammar.

Short paragraphs about people, work, places and everyday tasks, written in the simple words the
bundled prompts use (roles, plans, questions, advice), so that a tokenizer trained on it covers
the prompts' language and a model pre-trained on it writes readable English. It never writes
the prompts' own frame ("I want you to act as ..."): that is what the lab's LoRA run teaches.

`paragraphs(count, seed)` is deterministic: the same seed gives the same corpus.
"""

from __future__ import annotations

import random

NAMES = ["Anna", "Ben", "Clara", "David", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kenji",
         "Lena", "Marco", "Nadia", "Omar", "Paula", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera",
         "Will", "Yara", "Zoe", "Leo", "Mia", "Noah", "Ivy", "Theo"]
ROLES = ["coach", "planner", "tutor", "gardener", "teacher", "storyteller", "poet", "helper", "partner",
         "trainer", "counselor", "librarian", "reviewer", "historian", "chef", "guide", "explainer",
         "editor", "advisor", "maker", "reporter", "organizer", "host", "mentor", "master", "mechanic",
         "writer", "doctor", "designer", "assistant", "critic", "translator", "reader", "baker",
         "nurse", "farmer", "pilot", "driver", "painter", "singer", "builder", "student", "scientist",
         "musician", "comedian", "checker", "namer", "keeper", "investor", "landlord", "colleague"]
ROLE_KINDS = ["music", "math", "chess", "travel", "fitness", "career", "science", "history", "language",
              "study", "sleep", "running", "cycling", "museum", "tour", "budget", "garden", "kitchen",
              "art", "event", "camping", "memory", "writing", "grammar", "nutrition", "data", "code"]
PLACES = ["the market", "the park", "the library", "the station", "the kitchen", "the garden", "the office",
          "the museum", "the river", "the old town", "the mountains", "the beach", "the school", "the cafe",
          "the bakery", "the hospital", "the forest", "the city centre", "the village", "the harbour",
          "the balcony", "the classroom", "the studio", "the bus stop", "the square"]
TIMES = ["in the morning", "after lunch", "in the evening", "at night", "on Monday", "on Thursday",
         "at the weekend", "in spring", "in early autumn", "in winter", "every day", "once a week",
         "before sleep", "at dawn", "after work", "in late August", "on a cold morning", "at noon"]
THINGS = ["a book", "a map", "a letter", "a cup of tea", "a small plant", "a bike", "a list", "a plan",
          "a kettle", "a bottle of water", "a notebook", "a puzzle", "a poem", "a story", "a recipe",
          "a photo", "an umbrella", "a basket of apples", "a warm coat", "a pair of shoes", "a lamp",
          "a painting", "a helmet", "a guitar", "a phone", "a chair", "a mug", "a ticket", "a question",
          "a song", "a report", "an email", "a schedule", "a game", "a drawing", "a joke", "a riddle"]
FOODS = ["rice", "eggs", "bread", "soup", "spinach", "onions", "apples", "coffee", "tea", "cheese",
         "beans", "pasta", "fish", "vegetables", "fruit", "basil", "tomatoes", "potatoes", "milk"]
ADJECTIVES = ["small", "quiet", "bright", "old", "warm", "cold", "busy", "calm", "clear", "simple",
              "friendly", "careful", "kind", "patient", "curious", "tired", "happy", "short", "long",
              "gentle", "strong", "young", "windy", "green", "grey", "blue", "red", "brown", "soft", "polite"]
ACTIVITIES = ["reading", "walking", "cooking", "running", "drawing", "writing", "singing", "painting",
              "gardening", "swimming", "studying", "cycling", "baking", "dancing", "planning", "cleaning",
              "practising the piano", "learning Spanish", "playing chess", "watching birds", "exercising"]
SUBJECTS = ["numbers", "music", "history", "the weather", "the stars", "plants", "old maps", "words",
            "rivers", "birds", "machines", "food", "money", "languages", "the moon", "colors", "animals",
            "the body", "sleep", "time", "games", "statistics", "programs", "paintings", "ideas"]
ADVICE = ["start small", "take a short break", "write down one goal", "drink some water",
          "ask a friend for help", "go for a walk", "make a simple list", "sleep a little earlier",
          "read one page a day", "keep a short diary", "check the plan again", "practise a little each day",
          "put the phone away", "open the window", "count to ten", "eat more vegetables"]
FEELINGS = ["glad", "nervous", "proud", "surprised", "calm", "worried", "excited", "grateful", "curious"]
DAYS = ["one", "two", "three", "four", "five", "six", "seven", "ten", "twelve", "twenty", "thirty"]
UNITS = ["minutes", "days", "weeks", "pages", "steps", "hours", "kilometers", "lessons"]


def paragraphs(count: int, seed: int = 0) -> list[str]:
    """`count` paragraphs of three to six sentences each, about one person and one scene, told
    in the third person (a story), the first (a diary or a letter) or the second (advice)."""
    rng = random.Random(seed)
    return [_paragraph(rng) for _ in range(count)]


def _paragraph(rng: random.Random) -> str:
    scene = {
        "name": rng.choice(NAMES), "other": rng.choice(NAMES), "role": rng.choice(ROLES),
        "kind": rng.choice(ROLE_KINDS), "place": rng.choice(PLACES), "time": rng.choice(TIMES),
        "thing": rng.choice(THINGS), "food": rng.choice(FOODS), "adj": rng.choice(ADJECTIVES),
        "adj2": rng.choice(ADJECTIVES), "activity": rng.choice(ACTIVITIES), "subject": rng.choice(SUBJECTS),
        "advice": rng.choice(ADVICE), "advice2": rng.choice(ADVICE), "feeling": rng.choice(FEELINGS),
        "number": rng.choice(DAYS), "unit": rng.choice(UNITS), "food2": rng.choice(FOODS),
        "place2": rng.choice(PLACES), "thing2": rng.choice(THINGS),
    }
    if scene["other"] == scene["name"]:
        scene["other"] = NAMES[(NAMES.index(scene["name"]) + 1) % len(NAMES)]
    openers, middles, closers = rng.choice(VOICES)
    sentences = [rng.choice(openers), *rng.sample(middles, rng.randint(2, 4)), rng.choice(closers)]
    return " ".join(_capitalized(template.format(**scene)) for template in sentences)


def _capitalized(sentence: str) -> str:
    return sentence[0].upper() + sentence[1:]


OPENERS = [
    "{name} works as a {kind} {role} in {place}.",
    "{time}, {name} went to {place} with {thing}.",
    "{name} is a {adj} {role} who likes {subject}.",
    "the {adj} {role} at {place} has a new idea.",
    "every {role} knows that a good day starts with a plan.",
    "{name} has been {activity} for {number} {unit}.",
    "{name} wanted to learn more about {subject}.",
    "it was a {adj} day, and {place} was {adj2}.",
    "{name} and {other} met at {place} {time}.",
    "a {kind} {role} helps people with {subject}.",
    "last year {name} started {activity}.",
    "why do people love {subject}? {name} asked this question {time}.",
]
MIDDLES = [
    "{name} made {thing} and put it on the table.",
    "the {role} said that it helps to {advice}.",
    "{other} asked for some advice about {subject}.",
    "she explained each step in plain words.",
    "he gave a short answer and a clear reason.",
    "they talked about {subject} for {number} {unit}.",
    "{name} cooked {food} and {food2} for dinner.",
    "after a while, {name} felt {feeling}.",
    "the room was {adj} and smelled of {food}.",
    "{other} wrote a {adj} note and left it near {thing2}.",
    "there were {number} people waiting at {place2}.",
    "the plan had {number} parts, and each part took a few {unit}.",
    "{name} tried to {advice}, and it worked.",
    "the best way to learn is to {advice} and to be patient.",
    "a {adj} {role} listens first and speaks later.",
    "the children asked many questions about {subject}.",
    "{name} read about {subject} and took notes in a notebook.",
    "the weather changed, and the sky turned {adj2}.",
    "{other} showed {name} how to use {thing}.",
    "on the way to {place2}, they stopped for {food}.",
    "{name} was not sure what to do next.",
    "the teacher wrote {number} words on the board.",
    "a good {role} knows when to help and when to wait.",
    "it took {number} {unit} to finish the work.",
    "{other} said, \"you can do it, just {advice}.\"",
    "the {kind} lesson was about {subject} and {activity}.",
    "the answer was simple: {advice}.",
    "they walked together to {place2} and talked about {activity}.",
]
CLOSERS = [
    "in the end, {name} was {feeling} and went home.",
    "that evening {name} wrote it all down.",
    "the next day they met again at {place}.",
    "it was a good start.",
    "{name} smiled and thanked the {role}.",
    "now {name} practises {activity} {time}.",
    "since then, {name} tells everyone to {advice2}.",
    "the {role} was {feeling} to hear it.",
    "by the end of the week the work was done.",
    "it is a lesson {name} will not forget.",
]

DIARY_OPENERS = [
    "today I went to {place} {time}.",
    "I am a {role}, and I like my work.",
    "dear {other}, thank you for {thing}.",
    "I have been {activity} for {number} {unit} now.",
    "my name is {name}, and I live near {place}.",
    "this week I tried something new: {activity}.",
    "I need a little help with {subject}.",
    "last night I could not sleep, so I read about {subject}.",
]
DIARY_MIDDLES = [
    "I made {thing} and gave it to {other}.",
    "my friend {other} told me to {advice}.",
    "I feel {feeling}, but I am not worried.",
    "I would like to learn more about {subject}.",
    "we cooked {food} and {food2} together.",
    "the {role} at {place2} was {adj} and {adj2}.",
    "can you show me how to use {thing2}?",
    "my plan is to {advice} and then to {advice2}.",
    "I wrote {number} pages in my notebook.",
    "do you remember the {adj} day at {place2}?",
    "I asked the {kind} {role} a question, and the answer was clear.",
    "I still think about {subject} every day.",
    "we walked for {number} {unit} and talked about {activity}.",
    "my goal for the month is to {advice}.",
]
DIARY_CLOSERS = [
    "I hope you are well. Best wishes, {name}.",
    "tomorrow is a new day.",
    "I am {feeling} that I tried.",
    "see you soon, {name}.",
    "that is all for today.",
    "next week I want to try {activity}.",
]
ADVICE_OPENERS = [
    "if you want to get better at {activity}, {advice}.",
    "here is a simple way to learn about {subject}.",
    "a {kind} {role} can help you with {subject}.",
    "do you find {activity} hard? You are not alone.",
    "before a long day at {place}, {advice}.",
    "when you feel {feeling}, {advice}.",
]
ADVICE_MIDDLES = [
    "first, {advice}.",
    "then {advice2}, and do not rush.",
    "you can do this {time}, for {number} {unit} at a time.",
    "bring {thing} and {thing2}.",
    "a short plan works better than a long one.",
    "ask a {role} if you are not sure.",
    "it helps to eat {food} and to drink water.",
    "write your answer in plain words.",
    "keep each step small and clear.",
    "if it is too hard, try a shorter version first.",
    "you do not need to be perfect.",
    "choose one thing to change this week.",
]
ADVICE_CLOSERS = [
    "after a few {unit}, you will see the difference.",
    "good luck, and be patient with yourself.",
    "small steps add up.",
    "that is the whole secret.",
]
REQUEST_OPENERS = [
    "can you help me with {subject}? I need a {adj} plan.",
    "I am looking for a {kind} {role} for {number} {unit}.",
    "please read my note about {subject} and tell me what you think.",
    "I have a question for the {role} at {place}.",
    "my friend {other} needs some help with {activity}.",
    "we need someone who can explain {subject} to children.",
    "here is my problem: I never have time for {activity}.",
]
REQUEST_MIDDLES = [
    "I will bring {thing}, and you can show me how it works.",
    "you will find {thing2} near {place2}.",
    "my first question is simple: where do I start?",
    "the request was {adj}, so the {role} said yes.",
    "I will send you {thing} {time}.",
    "could you give me {number} ideas and one reason for each?",
    "you can answer in plain words, one step at a time.",
    "I will explain what I want, and you will check my work.",
    "tell me what to do first and what to leave for later.",
    "my first day at {place2} was {adj}.",
    "I would like a short answer, not a long one.",
    "you will see that it is not so hard.",
    "please describe {thing2} in a few clear sentences.",
    "I asked for {thing}, and {other} gave me {thing2}.",
    "my goal is to {advice} and to feel {feeling}.",
    "you can suggest a {adj} way to begin.",
    "I will give the {role} a list of my questions.",
    "the {role} will tell us the answer {time}.",
    "I will describe the {thing} to {other}, and she will say what she thinks.",
    "I will give them {thing} {time}.",
    "my last request was {adj}: {advice}.",
    "the first request is always the hardest.",
    "you will tell us about {subject} {time}.",
    "I want to learn about {subject} and {activity}.",
    "tell me what you think of my {thing2}.",
    "my first question is about {subject}.",
    "I will show you {thing}, and you can tell me if it is good.",
    "you will write {number} short sentences about {subject}.",
    "I will ask you {number} questions, and you can answer each one.",
    "he will help us with {activity} {time}.",
]
REQUEST_CLOSERS = [
    "thank you for your help.",
    "I am {feeling} to hear from you.",
    "let me know what you think.",
    "I hope this is not too much to ask.",
    "that is my request.",
]
VOICES = [
    (REQUEST_OPENERS, REQUEST_MIDDLES, REQUEST_CLOSERS),
    (REQUEST_OPENERS, REQUEST_MIDDLES, REQUEST_CLOSERS),
    (OPENERS, MIDDLES, CLOSERS),
    (DIARY_OPENERS, DIARY_MIDDLES, DIARY_CLOSERS),
    (ADVICE_OPENERS, ADVICE_MIDDLES, ADVICE_CLOSERS),
]
