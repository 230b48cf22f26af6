"""Texts the speech engines read. Written for this project (IVR-style prompts like the
asterisk recordings, plain sentences, digit strings and letters in the real sets' languages)
so that content does not separate real from synthetic speech."""
import random

PROMPTS = [
    "Please enter your account number followed by the pound key.",
    "The person at extension {n} is not available.",
    "Your call is important to us. Please stay on the line.",
    "You have {n} new messages.",
    "Press one to repeat this message, or press two to delete it.",
    "The number you have dialed is not in service.",
    "Please leave your message after the tone.",
    "Goodbye.",
    "Thank you for calling. An agent will be with you shortly.",
    "Your conference is now starting.",
    "There are currently {n} callers waiting ahead of you.",
    "Please say or enter your four digit pin.",
    "That extension is invalid. Please try again.",
    "You are now being transferred.",
    "To speak with an operator, press zero at any time.",
    "Your password has been changed.",
    "The mailbox is full and cannot accept any more messages.",
    "Please hold while I try to connect you.",
    "Message deleted.",
    "Recording has been saved.",
    "Welcome to the voicemail system.",
    "Enter the first three letters of the person's last name.",
    "The time is now {h} {m}.",
    "You will now be placed on hold.",
    "Your estimated waiting time is {n} minutes.",
    "The conference is locked.",
    "Please enter the extension you wish to dial.",
    "Call forwarding has been activated.",
    "Call forwarding has been cancelled.",
    "I am sorry, I did not understand your response.",
]

SENTENCES = [
    "The weather tomorrow will be cloudy with a chance of rain in the afternoon.",
    "We drove along the coast until the road ended at a small fishing village.",
    "She put the kettle on and waited for the water to boil.",
    "The library closes early on Sundays and public holidays.",
    "My brother fixed the old bicycle in less than an hour.",
    "Please remember to bring your passport and a copy of the booking.",
    "The children played in the garden until it got dark.",
    "A strong wind knocked over the fence behind the house.",
    "He forgot his umbrella on the train again.",
    "The meeting has been moved to Thursday at ten o'clock.",
    "They planted tomatoes, beans and a row of sunflowers.",
    "The museum has a new exhibition about early aviation.",
    "Turn left at the bakery and the station is straight ahead.",
    "I think the battery in the remote control is empty.",
    "Our flight was delayed because of fog at the airport.",
    "The soup needs a little more salt and some pepper.",
    "Nobody noticed that the clock on the wall had stopped.",
    "The dog barked at the postman every single morning.",
    "We should leave before the traffic gets worse.",
    "The concert was sold out weeks in advance.",
    "Could you speak a little more slowly, please?",
    "The river froze over during the coldest week of the winter.",
    "Her grandmother taught her how to knit a scarf.",
    "The shop on the corner sells fresh bread and newspapers.",
    "It took them three days to walk across the mountains.",
    "The printer on the second floor is out of paper.",
    "He opened the window to let some fresh air in.",
    "The results of the survey will be published next month.",
    "A cup of tea is the best way to start the day.",
    "The train to the city leaves from platform four.",
    "Somebody left the lights on in the kitchen all night.",
    "The garden looks beautiful after the spring rain.",
    "I would like a table for two near the window, please.",
    "The new bridge will open to traffic next summer.",
    "We watched the sunset from the top of the hill.",
    "Please do not park in front of the garage door.",
    "The teacher asked the students to read the first chapter.",
    "Fresh strawberries are only available for a few weeks.",
    "The lift is out of order, so please use the stairs.",
    "My phone needs charging before we go out.",
]

DIGIT_WORDS = "zero one two three four five six seven eight nine".split()
HOURS = "one two three four five six seven eight nine ten eleven twelve".split()
MINUTES = ["o'clock", "fifteen", "thirty", "forty five", "oh five", "twenty"]


def english_texts(rng: random.Random, count: int) -> list[str]:
    out = []
    for i in range(count):
        kind = rng.random()
        if kind < 0.35:
            t = rng.choice(PROMPTS).format(n=rng.randint(2, 40), h=rng.choice(HOURS), m=rng.choice(MINUTES))
        elif kind < 0.8:
            t = rng.choice(SENTENCES)
            if rng.random() < 0.3:
                t = t + " " + rng.choice(SENTENCES)
        elif kind < 0.92:
            t = " ".join(rng.choice(DIGIT_WORDS) for _ in range(rng.randint(3, 9)))
        else:
            t = " ".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(rng.randint(3, 7)))
        out.append(t)
    return out


def digits_text(rng: random.Random) -> str:
    """Digit strings: espeak-ng reads them in the voice's own language."""
    return " ".join(str(rng.randint(0, 99)) for _ in range(rng.randint(3, 8)))


LETTERS = {
    "de": "a b c d e f g h i j k l m n o p q r s t u v w x y z ä ö ü",
    "fr": "a b c d e f g h i j k l m n o p q r s t u v w x y z",
    "es": "a b c d e f g h i j k l m n ñ o p q r s t u v w x y z",
    "it": "a b c d e f g h i l m n o p q r s t u v z",
    "nl": "a b c d e f g h i j k l m n o p q r s t u v w x y z",
    "ru": "а б в г д е ж з и к л м н о п р с т у ф х ц ч ш щ э ю я",
    "cs": "a b c č d e f g h i j k l m n o p r ř s š t u v z ž",
    "da": "a b c d e f g h i j k l m n o p q r s t u v w x y z æ ø å",
    "pt": "a b c d e f g h i j l m n o p q r s t u v x z",
    "cmn": "ba po ma fo de te ne le ge ke he ji qi xi zhi chi shi ri zi ci si",
}


def letters_text(rng: random.Random, lang: str) -> str:
    pool = LETTERS.get(lang, LETTERS["fr"]).split()
    return " , ".join(rng.choice(pool) for _ in range(rng.randint(3, 8)))
