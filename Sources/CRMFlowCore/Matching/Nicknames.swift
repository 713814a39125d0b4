/// Given names and their common short forms. Each line of `table` is one group: the formal name first, then the
/// nicknames that stand for it. A nickname may belong to several groups (`al`: Albert, Alan, Alfred, Alexander).
/// The table is data: add a line to teach crmflow a new equivalence.
public enum Nicknames {
    public static let table = """
    abigail,abby,abbie,gail
    abraham,abe,bram
    alan,al,allan,allen
    albert,al,bert,bertie
    alexander,alex,al,sandy,xander,alec,lex,sasha
    alexandra,alex,alexa,sandra,sandy,lexi,sasha
    alfred,al,alf,fred,freddie
    alice,allie,ally,alicia
    amanda,mandy,manda
    andrea,andi,andie
    andrew,andy,drew
    angela,angie
    anthony,tony,ant
    antonio,tony,toni
    arthur,art,artie
    barbara,barb,babs,barbie
    benjamin,ben,benny,benji
    bernard,bernie,barney
    beverly,bev
    bradley,brad
    bridget,bridgie,biddy
    calvin,cal
    carol,carrie
    caroline,carrie,carol,caro
    catherine,cathy,cate,kate,katie,cat,kathy
    charles,charlie,chuck,chas,chaz
    christina,chris,tina,chrissy
    christine,chris,tina,chrissy
    christopher,chris,kit,topher
    clifford,cliff
    cynthia,cindy
    daniel,dan,danny
    david,dave,davey
    deborah,deb,debbie,debby
    debra,deb,debbie,debby
    dennis,denny
    donald,don,donnie
    dorothy,dot,dottie,dolly
    douglas,doug
    edward,ed,eddie,ted,teddy,ned
    edwin,ed,eddie
    elizabeth,liz,lizzie,beth,betty,betsy,eliza,libby,elise,lisa,bess
    emily,em,emmy
    eugene,gene
    frances,fran,frannie
    francis,frank,fran
    franklin,frank
    frederick,fred,freddie,fritz
    gabriel,gabe
    gabrielle,gabby,gabi
    gerald,gerry,jerry
    gregory,greg
    harold,harry,hal
    henry,hank,harry,hal
    herbert,herb,bert
    isabella,bella,izzy,isabel
    jacob,jake,jack
    james,jim,jimmy,jamie,jem
    janet,jan
    jeffrey,jeff
    jennifer,jen,jenny,jenn
    jessica,jess,jessie
    john,jack,johnny,jon
    jonathan,jon,jonny,nathan
    joseph,joe,joey,jo
    josephine,jo,josie
    joshua,josh
    judith,judy
    julia,julie,jules
    katherine,kathy,kate,katie,kat,kitty,kathryn
    kathleen,kathy,kate,kath
    kenneth,ken,kenny
    kimberly,kim
    lawrence,larry,laurie
    leonard,leo,len,lenny
    leslie,les
    louis,lou,louie
    louise,lou,lulu
    margaret,maggie,meg,peggy,marge,margie,greta,madge
    martha,marty,mattie
    martin,marty
    mary,molly,mae,polly,mamie
    matthew,matt,matty
    megan,meg
    melissa,mel,missy
    michael,mike,mikey,mick,mickey
    michelle,shelly,micki
    miriam,mimi
    nancy,nan,nance
    natalie,nat,nattie
    nathaniel,nate,nat,nathan
    nicholas,nick,nicky,nico
    nicole,nikki,nicky
    oliver,ollie
    pamela,pam
    patricia,pat,patty,trish,tricia
    patrick,pat,paddy,rick
    peter,pete
    philip,phil,pip
    phillip,phil,pip
    raymond,ray
    rebecca,becky,becca
    richard,rick,dick,rich,ricky,richie
    robert,bob,rob,bobby,robbie,bert
    roberta,bobbie,robbie
    ronald,ron,ronnie
    rosemary,rose,rosie
    russell,russ,rusty
    samantha,sam,sammy
    samuel,sam,sammy
    sandra,sandy
    stanley,stan
    stephanie,steph,stevie
    stephen,steve,stevie
    steven,steve,stevie
    susan,sue,susie,suzy
    suzanne,sue,suzy
    teresa,terri,terry,tess,tessa
    theodore,ted,teddy,theo
    theresa,terri,terry,tess,tessa
    thomas,tom,tommy
    timothy,tim,timmy
    valerie,val
    victoria,vicky,tori,vic
    vincent,vince,vinny
    virginia,ginny,ginger
    walter,walt,wally
    william,will,bill,billy,willy,liam
    zachary,zach,zack
    johann,hans
    johannes,hans,jo
    friedrich,fritz
    wolfgang,wolf
    giuseppe,beppe,pino
    francesco,franco,cesco
    jose,pepe
    francisco,paco,pancho
    """

    /// Name → the indexes of the groups it belongs to.
    static let groups: [String: [Int]] = {
        var m: [String: [Int]] = [:]
        for (i, line) in table.split(separator: "\n").enumerated() {
            for name in line.split(separator: ",") { m[String(name).trimmingCharacters(in: .whitespaces), default: []].append(i) }
        }
        return m
    }()

    /// The nickname groups a folded (lower-case, accent-free) name belongs to; empty when none.
    public static func groups(of folded: String) -> [Int] { groups[folded] ?? [] }

    /// True when the two given names are the same or stand for the same formal name (`bob` ~ `robert`, `bob` ~
    /// `bobby`); case and accents are ignored.
    public static func equivalent(_ a: String, _ b: String) -> Bool {
        let x = Folding.fold(a), y = Folding.fold(b)
        if x == y { return !x.isEmpty }
        guard let gx = groups[x], let gy = groups[y] else { return false }
        return !Set(gx).isDisjoint(with: gy)
    }
}
